"""Reads of the campaigns domain that the dashboards share.

- `funnel`: the funnel and the days of a date range, and recent events (home, a campaign's
  overview), from the daily rollup and the events' indexes.
- `figures`: the campaign list's figures per campaign, and the compact summaries of a campaign's
  recipients, calls, rewards and approvals (a campaign's tabs).
"""

from .figures import (
    LATEST,
    SPENT_REWARD_STATUSES,
    approval_summary,
    call_summary,
    recipient_summary,
    reward_summary,
    waiting_for_approval,
    with_figures,
)
from .funnel import (
    COUNTED_EVENTS,
    FUNNEL,
    MAILED,
    MAILED_STATUSES,
    RECENT_EVENT_TYPES,
    SPENT_ON,
    Activity,
    activity,
    recent_events,
)

__all__ = [
    "COUNTED_EVENTS",
    "FUNNEL",
    "LATEST",
    "MAILED",
    "MAILED_STATUSES",
    "RECENT_EVENT_TYPES",
    "SPENT_ON",
    "SPENT_REWARD_STATUSES",
    "Activity",
    "activity",
    "approval_summary",
    "call_summary",
    "recent_events",
    "recipient_summary",
    "reward_summary",
    "waiting_for_approval",
    "with_figures",
]
