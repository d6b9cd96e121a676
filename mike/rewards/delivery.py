"""Sending a claimed card (`send_delivery`), what Twilio says about it afterwards, and staff and
automatic retries. The rows and their steps are giftcards.services.delivery's; this module sends
the text between those steps and, when the carrier refuses it because the number opted out,
opts the number out through the recipients domain in the same transaction."""

from django.conf import settings
from django.db import transaction

from giftcards.models import CardDeliveryMethod, GiftCardDelivery
from giftcards.services import delivery as deliveries
from giftcards.services.delivery import DeliveryOutcome
from mike.core import sms
from recipients.models import SmsOptInStatus
from recipients.services import opt_out_refused_number


def send_delivery(delivery_id) -> str:
    """Send one delivery (idempotent). Returns a DeliveryOutcome value.

    1. take the row (`begin_delivery`: a second worker, or a re-run after success, gets
       BUSY or ALREADY_DONE and sends nothing);
    2. send the text, with no lock held while Twilio answers;
    3. record the outcome in one transaction.
    """
    begun = deliveries.begin_delivery(delivery_id)
    if isinstance(begun, str):
        return begun
    delivery = begun
    card = delivery.gift_card
    if (
        delivery.delivery_method == CardDeliveryMethod.SMS
        and delivery.recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
    ):
        return deliveries.record_failure(
            delivery,
            card,
            deliveries.OPTED_OUT_ERROR,
            retryable=False,
            reason=deliveries.DeliveryFailureReason.OPTED_OUT,
        )
    body = deliveries.card_message(delivery, card, masked=False)
    status_callback = settings.SITE_URL.rstrip("/") + "/hooks/twilio/sms/status/"
    try:
        sent = sms.send_sms(delivery.delivery_address, body, status_callback=status_callback)
    except sms.SmsError as error:
        if sms.is_carrier_opt_out(error.code):
            return _record_carrier_refusal(delivery, card, error.code)
        return deliveries.record_failure(delivery, card, str(error), retryable=error.retryable)
    deliveries.record_sent(delivery, card, sent)
    deliveries.email_copy(delivery, card)
    return DeliveryOutcome.SENT


@transaction.atomic
def _record_carrier_refusal(delivery: GiftCardDelivery, card, code: str) -> str:
    """The number opted out at the carrier: opt it out and fail the delivery for good, together.
    Locks the delivery, then the recipients, then the reward, as `update_delivery_status` does."""
    deliveries.lock_delivery(delivery.pk)
    opt_out_refused_number(
        recipient=delivery.recipient,
        refused="gift card",
        phone=delivery.delivery_address,
        error_code=code,
    )
    return deliveries.record_carrier_refusal(delivery, card, code)


def update_delivery_status(*, message_sid: str, status: str, error_code: str = "") -> bool:
    """Apply a Twilio status callback to the delivery with that SID (giftcards.services.delivery
    .update_delivery_status) and, when the carrier refused the text because the number opted out
    (21610), opt the number out as a STOP would, in the same transaction. True when a delivery
    has that SID."""
    with transaction.atomic():
        delivery, carrier_opt_out = deliveries.update_delivery_status(
            message_sid=message_sid, status=status, error_code=error_code
        )
        if carrier_opt_out:
            opt_out_refused_number(
                recipient=delivery.recipient,
                refused="gift card",
                phone=delivery.delivery_address,
                message_sid=message_sid,
                error_code=error_code,
            )
    return delivery is not None


def retry_delivery(delivery: GiftCardDelivery, *, by=None) -> bool:
    """Staff retry of a failed delivery: a fresh set of attempts (giftcards.services.delivery
    .retry_delivery), queued after commit. False when it was sent already."""
    from .claims import queue_delivery

    with transaction.atomic():
        retried = deliveries.retry_delivery(delivery, by=by)
        if retried:
            queue_delivery(delivery.pk)
    return retried


def resume_opted_out_deliveries(*, recipient) -> int:
    """Re-queue the recipient's text deliveries refused only because the number had opted out,
    now that it opted back in (START or YES). Idempotent: a re-queued delivery is no longer
    failed. Returns how many were re-queued."""
    refused = deliveries.opted_out_deliveries(recipient=recipient)
    return sum(1 for delivery in refused.only("pk") if retry_delivery(delivery))
