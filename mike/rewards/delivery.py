"""Sending a claimed card (`send_delivery`), what Twilio says about it afterwards, and staff and
automatic retries. The rows and their steps are giftcards.services.delivery's; this module sends
the text between those steps and, when the carrier refuses it because the number opted out,
opts the number out through the recipients domain in the same transaction."""

import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from giftcards.models import CardDeliveryMethod, DeliveryFailureReason, GiftCardDelivery
from giftcards.services import callbacks, retries, sandbox
from giftcards.services import delivery as deliveries
from giftcards.services.delivery import DeliveryOutcome
from giftcards.services.email import send_card_email
from mike.core import sms
from recipients.models import RecipientAuditAction, RecipientAuditLog, SmsOptInStatus
from recipients.services import opt_out_refused_number

logger = logging.getLogger(__name__)

ERASED_ERROR = "Not sent: the recipient's personal data was erased."


def send_delivery(delivery_id, *, early: bool = False) -> str:
    """Send one delivery, at most once per attempt (idempotent). Returns a DeliveryOutcome value.

    1. take the row (giftcards.services.delivery.begin_delivery: a second worker, a staff retry
       or a sweep finds it taken and sends nothing; a re-run after success finds it sent);
    2. send the card by text, or by email when the recipient has no phone, with no lock held
       while the provider answers;
    3. record the outcome in one transaction.

    `early`: the retry a previous attempt scheduled may run a little before it is due.

    A sandbox delivery (a test recipient's) is taken the same way and recorded as delivered
    without anything being sent (giftcards.services.sandbox).
    """
    begun = deliveries.begin_delivery(delivery_id, early=early)
    if isinstance(begun, str):
        return begun
    delivery = begun
    if delivery.is_sandbox or delivery.recipient.is_test:
        # A live delivery of a test recipient cannot exist (the claim refuses test data); were
        # one made by hand, it is not sent either.
        sandbox.record_sandbox_delivered(
            delivery, message=deliveries.card_message(delivery, delivery.gift_card, masked=True)
        )
        return DeliveryOutcome.SENT
    card = delivery.gift_card
    if delivery.recipient.erased_at is not None:
        # Erased (mike.rewards.erasure): there is no address left to send to, and none to find.
        return deliveries.record_failure(delivery, card, ERASED_ERROR, retryable=False)
    if delivery.delivery_method == CardDeliveryMethod.EMAIL:
        return _send_email(delivery, card)
    if delivery.recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT:
        return deliveries.record_failure(
            delivery,
            card,
            deliveries.OPTED_OUT_ERROR,
            retryable=False,
            reason=deliveries.DeliveryFailureReason.OPTED_OUT,
        )
    body = deliveries.card_message(delivery, card, masked=False)
    if delivery.failure_reason == DeliveryFailureReason.OUTCOME_UNKNOWN:
        try:
            earlier = sms.find_sent(delivery.delivery_address, body, since=delivery.created_at)
        except sms.SmsError as error:
            return _record_send_error(delivery, card, error)
        if earlier is not None:
            return _record_found(delivery, card, earlier)
    status_callback = settings.SITE_URL.rstrip("/") + reverse("twilio-sms-status")
    try:
        sent = sms.send_sms(delivery.delivery_address, body, status_callback=status_callback)
    except sms.SmsError as error:
        if sms.is_carrier_opt_out(error.code):
            return _record_carrier_refusal(delivery, card, error.code)
        return _record_send_error(delivery, card, error)
    deliveries.record_sent(delivery, card, sent)
    _email_copy(delivery, card)
    return DeliveryOutcome.SENT


def _record_send_error(delivery: GiftCardDelivery, card, error: sms.SmsError) -> str:
    reason = (
        DeliveryFailureReason.OUTCOME_UNKNOWN
        if error.outcome_unknown
        else DeliveryFailureReason.SEND_ERROR
    )
    return deliveries.record_failure(
        delivery, card, str(error), retryable=error.retryable, reason=reason
    )


def _record_found(delivery: GiftCardDelivery, card, earlier: sms.SentSms) -> str:
    """An earlier attempt's text did leave (Twilio has it): record that text as this delivery's
    send instead of texting the card again, and whatever Twilio reports of it since."""
    logger.warning(
        "Delivery %s: an attempt whose outcome was unknown had sent %s; not texted again",
        delivery.pk,
        earlier.sid,
    )
    deliveries.record_sent(delivery, card, earlier)
    status = sms.provider_status(earlier.status)
    if status is not None and status.rank > sms.MessageStatus.ACCEPTED.rank:
        # Its status callbacks found no delivery with that SID at the time; apply the latest.
        update_delivery_status(message_sid=earlier.sid, status=earlier.status)
    _email_copy(delivery, card)
    return DeliveryOutcome.SENT


def _send_email(delivery: GiftCardDelivery, card) -> str:
    try:
        send_card_email(delivery, card, to=delivery.delivery_address)
    except Exception as error:  # noqa: BLE001 - SMTP and backends raise many kinds; retried
        logger.warning("Email delivery %s failed: %s", delivery.pk, error)
        return deliveries.record_failure(
            delivery, card, f"Email not sent: {error}"[:2000], retryable=True
        )
    deliveries.record_sent(delivery, card, None)
    return DeliveryOutcome.SENT


def _email_copy(delivery: GiftCardDelivery, card) -> None:
    """A card texted to a recipient who also has an email address gets it by email too: best
    effort (the text is the delivery of record), audited when it leaves."""
    recipient = delivery.recipient
    if not recipient.email:
        return
    try:
        send_card_email(delivery, card, to=recipient.email)
    except Exception:  # noqa: BLE001 - an email problem must not undo a delivered text
        logger.exception("Email copy of delivery %s failed", delivery.pk)
        return
    RecipientAuditLog.objects.create(
        recipient=recipient,
        action=RecipientAuditAction.EMAIL_SENT,
        metadata={"delivery": str(delivery.pk), "copy_of": "sms"},
    )


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
    """Apply a Twilio status callback to the delivery with that SID (giftcards.services.callbacks
    .update_delivery_status) and, when the carrier refused the text because the number opted out
    (21610), opt the number out as a STOP would, in the same transaction. True when a delivery
    has that SID."""
    with transaction.atomic():
        delivery, carrier_opt_out = callbacks.update_delivery_status(
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
    """Staff retry of a delivery whose failure is over (failed, undelivered, bounced): a fresh
    set of attempts (giftcards.services.retries.retry_delivery), queued after commit. False,
    and nothing queued, for one queued, being sent, or sent already."""
    from .claims import queue_delivery

    with transaction.atomic():
        retried = retries.retry_delivery(delivery, by=by)
        if retried:
            queue_delivery(delivery.pk)
    return retried


def resume_opted_out_deliveries(*, recipient) -> int:
    """Re-queue the recipient's text deliveries refused only because the number had opted out,
    now that it opted back in (START or YES). Idempotent: a re-queued delivery is no longer
    failed. Returns how many were re-queued."""
    refused = retries.opted_out_deliveries(recipient=recipient)
    return sum(1 for delivery in refused.only("pk") if retry_delivery(delivery))
