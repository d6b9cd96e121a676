"""What comes back from Twilio: texts recipients send, and the status callbacks of the texts
Mike sent (opt-in questions and card deliveries)."""

from functools import partial

from django.db import transaction

from recipients import services as recipient_services

from .claims import claim_after_commit
from .delivery import resume_opted_out_deliveries, update_delivery_status


def handle_inbound_sms(
    *, from_number: str, body: str, message_sid: str, to_number: str = ""
) -> str:
    """Act on a text a recipient sent (recipients.services.handle_inbound_sms: YES, STOP, START,
    HELP, idempotent by message SID) and return the reply to send back ("" for none). After
    commit, the rewards of whoever opted in are claimed, and the card texts refused while the
    number was opted out are sent again."""
    with transaction.atomic():
        outcome = recipient_services.handle_inbound_sms(
            from_number=from_number, body=body, message_sid=message_sid, to_number=to_number
        )
        for recipient in outcome.came_back:
            # Resuming locks deliveries, which the delivery paths lock before recipients: after
            # commit, in transactions of its own.
            transaction.on_commit(
                partial(resume_opted_out_deliveries, recipient=recipient), robust=True
            )
        for recipient in outcome.opted_in:
            claim_after_commit(recipient.pk)
    return outcome.reply


def apply_sms_status(*, message_sid: str, status: str, error_code: str = "") -> None:
    """Apply Twilio's status callback for an outbound text: an opt-in question's log row
    (recipients.services.apply_opt_in_status), or else a card delivery's
    (`delivery.update_delivery_status`). Harmless when repeated or out of order."""
    if not message_sid:
        return
    if recipient_services.apply_opt_in_status(
        message_sid=message_sid, status=status, error_code=error_code
    ):
        return
    update_delivery_status(message_sid=message_sid, status=status, error_code=error_code)
