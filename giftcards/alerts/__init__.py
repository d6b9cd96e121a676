"""Staff alerts: low stock, low credit and failed provisioning (SPEC §10, "a monitor raises alerts").

`send_staff_alerts()` is the monitor; beat runs it every 15 minutes (`mike.rewards.tasks
.send_stock_alerts`) and `mark_awaiting_stock` queues it at once when a reward finds no card. A run:

1. takes a PostgreSQL advisory lock for the length of its transaction, so overlapping runs (beat
   and an on_commit trigger, or two beats) take turns and the second reads the first's rows;
2. finds every current problem (`current_problems()`);
3. reads the alert history of the last ALERT_REPEAT_HOURS from GiftCardAuditLog and keeps the
   problems staff have not heard about: not alerted in that window, cleared since, worse than when
   last alerted (a low pool that now has rewards waiting), or failing anew (a delivery staff retried);
4. writes one `alert_sent` row per problem kept and one `alert_cleared` row per alerted problem that
   is no longer true, and emails one summary to staff, in the same transaction: if the email cannot
   be sent, the rows roll back and the next run tries again.

The history is the audit log itself, so staff read it in the admin (action `alert_sent`) and no
state lives in memory: any worker may run the monitor.
"""

from .monitor import ALERT_CLEARED, ALERT_SENT, alert_recipients, send_staff_alerts
from .problems import (
    UNSETTLED_PURCHASE_ATTEMPTS,
    AlertKind,
    Problem,
    current_problems,
)

__all__ = [
    "ALERT_CLEARED",
    "ALERT_SENT",
    "UNSETTLED_PURCHASE_ATTEMPTS",
    "AlertKind",
    "Problem",
    "alert_recipients",
    "current_problems",
    "send_staff_alerts",
]
