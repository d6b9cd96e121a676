"""Staff alerts: low stock, low credit and failed provisioning (SPEC §10, "a monitor raises alerts").

`send_staff_alerts()` is the monitor; beat runs it every 15 minutes (`mike.rewards.tasks
.send_stock_alerts`) and `mark_awaiting_stock` queues it at once when a reward finds no card. A run:

1. takes a PostgreSQL advisory lock for the length of its transaction, so overlapping runs (beat
   and an on_commit trigger, or two beats) take turns and the second reads the first's rows;
2. finds every current problem (`current_problems()`);
3. reads what staff were already told (StaffAlert, one row per problem) and keeps the problems they
   have not heard about: never alerted, not alerted for ALERT_REPEAT_HOURS (and not dismissed),
   cleared since, worse than when last alerted (a low pool that now has rewards waiting), or
   failing anew (a delivery staff retried);
4. records each problem kept on its StaffAlert row, marks cleared the alerted problems that are no
   longer true, and emails one summary to staff, in the same transaction: if the email cannot be
   sent, the rows roll back and the next run tries again.

The alert state is its own table (admin → Staff alerts), apart from the audit log of cards and
money, and no state lives in memory: any worker may run the monitor.
"""

from .monitor import alert_recipients, dismiss_alert, send_staff_alerts
from .problems import (
    UNSETTLED_PURCHASE_ATTEMPTS,
    Problem,
    current_problems,
)

__all__ = [
    "UNSETTLED_PURCHASE_ATTEMPTS",
    "Problem",
    "alert_recipients",
    "current_problems",
    "dismiss_alert",
    "send_staff_alerts",
]
