"""Recipient services: approval, rejection and the SMS opt-in conversation.

Each service locks the recipient row(s) it changes (`SELECT … FOR UPDATE`), writes the
`RecipientAuditLog` row and the funnel `Event` in the same transaction, and schedules side effects
(the opt-in text, the gift card claim) with `transaction.on_commit`, so a rolled-back approval never
texts anybody.

Lock order: recipient rows (by primary key when there are several), then their reward rows, then
the SMS log rows. These services change the recipients domain only; what follows from a change
(the opt-in text after an approval, the claim after a YES) is the reward pipeline's, in
`mike.rewards`, which calls these inside its own transactions.

One module per family of state changes; everything a caller needs is importable from here:

- `approval`: approve and reject recipients;
- `opt_in`: ask for the opt-in by SMS, and again once it is older than OPT_IN_MAX_AGE_DAYS
  (TCPA recency: `Recipient.opt_in_is_current`, `reask_expired_opt_in`); apply Twilio's status
  callbacks of our texts;
- `inbound`: what recipients text back (YES, STOP, START, HELP), and the STOP a carrier reports
  by refusing a text (Twilio error 21610).
"""

from .approval import ApprovalError, approve_recipient, reject_recipient
from .inbound import (
    RESPONSIVE_STATUSES,
    InboundSms,
    fixed_reply,
    handle_inbound_sms,
    log_reply,
    opt_out_on_request,
    opt_out_refused_number,
)
from .opt_in import (
    OPT_IN_LOG_STATUS,
    STATUS_RANK,
    UNSENT_STATUSES,
    apply_opt_in_status,
    choose_email_delivery,
    may_text,
    opt_in_message,
    reask_expired_opt_in,
    request_opt_in,
)

__all__ = [
    "ApprovalError",
    "InboundSms",
    "OPT_IN_LOG_STATUS",
    "RESPONSIVE_STATUSES",
    "STATUS_RANK",
    "UNSENT_STATUSES",
    "apply_opt_in_status",
    "approve_recipient",
    "choose_email_delivery",
    "fixed_reply",
    "handle_inbound_sms",
    "log_reply",
    "may_text",
    "opt_in_message",
    "opt_out_on_request",
    "opt_out_refused_number",
    "reask_expired_opt_in",
    "reject_recipient",
    "request_opt_in",
]
