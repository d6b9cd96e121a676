"""Recipient services: approval, rejection and the SMS opt-in conversation.

Each service locks the recipient row(s) it changes (`SELECT … FOR UPDATE`), writes the
`RecipientAuditLog` row and the funnel `Event` in the same transaction, and schedules side effects
(the opt-in text, the gift card claim) with `transaction.on_commit`, so a rolled-back approval never
texts anybody.

Lock order: recipient rows (by primary key when there are several), then their reward rows, then
the SMS log rows. The gift card claim runs after commit in its own transaction.

One module per family of state changes; everything a caller needs is importable from here:

- `approval`: approve and reject recipients, move one on after a condition was met;
- `opt_in`: ask for the opt-in by SMS, and again once it is older than OPT_IN_MAX_AGE_DAYS
  (TCPA recency: `Recipient.opt_in_is_current`, `reask_expired_opt_in`); apply Twilio's status
  callbacks of our texts;
- `inbound`: what recipients text back (YES, STOP, START, HELP), and the STOP a carrier reports
  by refusing a text (Twilio error 21610);
- `claim`: hand an approved, opted-in recipient's rewards to the gift card claim.
"""

from .approval import ApprovalError, approve_recipient, on_condition_met, reject_recipient
from .claim import claim_rewards
from .inbound import (
    CARRIER_OPT_OUT_ERROR,
    RESPONSIVE_STATUSES,
    handle_inbound_sms,
    is_carrier_opt_out,
    opt_out_refused_number,
)
from .opt_in import (
    STATUS_RANK,
    TWILIO_STATUS,
    UNSENT_STATUSES,
    apply_sms_status,
    opt_in_message,
    queue_opt_in,
    reask_expired_opt_in,
    request_opt_in,
)

__all__ = [
    "CARRIER_OPT_OUT_ERROR",
    "RESPONSIVE_STATUSES",
    "STATUS_RANK",
    "TWILIO_STATUS",
    "UNSENT_STATUSES",
    "ApprovalError",
    "apply_sms_status",
    "approve_recipient",
    "claim_rewards",
    "handle_inbound_sms",
    "is_carrier_opt_out",
    "on_condition_met",
    "opt_in_message",
    "opt_out_refused_number",
    "queue_opt_in",
    "reask_expired_opt_in",
    "reject_recipient",
    "request_opt_in",
]
