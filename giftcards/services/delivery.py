"""A claimed card's delivery rows: taking one to send, recording what the send did, applying
Twilio's status callbacks, a staff retry, and finding what a dead worker or a lost message left
behind. The send itself, and the opt-out a refused text leads to, are the reward pipeline's
(`mike.rewards.delivery`), which calls these steps.

The `GiftCardDelivery` row is the source of truth: the claim writes it `queued` in its own
transaction, the task only moves it forward. Sending happens in three steps so no lock is held
while Twilio is called:

1. lock the row (`SKIP LOCKED`: a second worker on the same delivery walks away) and mark it
   `sending`, or stop if it was already sent — a re-run after success sends nothing;
2. send the text;
3. record the outcome (message SID, SMS log, reward/card/pool status) in one transaction.

A worker that dies between 2 and 3 leaves the row `sending`; the sweep re-queues it after
DELIVERY_STUCK_MINUTES. That is the one place a recipient can get the same text twice, which is
the safe side of the trade: a card is never lost.

A recipient who opted out is not texted: the delivery fails for good without calling Twilio. When
Twilio refuses the text because the number opted out at the carrier (error 21610, at send time or
in a status callback), the delivery fails for good too and the number is opted out through
`recipients.services.opt_out_refused_number`, the path a STOP text takes. When the number opts
back in (START or YES), such deliveries are re-queued by themselves (opted_out_deliveries).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models import Event, EventSource, EventType
from mike.core import sms
from recipients.models import RecipientAuditAction, RecipientAuditLog

from ..models import (
    OPT_OUT_FAILURE_REASONS,
    CardDeliveryMethod,
    DeliveryFailureReason,
    DeliveryStatus,
    GiftCard,
    GiftCardDelivery,
    GiftCardPool,
    GiftCardStatus,
    RecipientGiftCard,
    RewardDeliveryStatus,
    RewardStatus,
    SmsDeliveryLog,
)
from .texts import reward_text

logger = logging.getLogger(__name__)

# How far each status is along the way; a callback may only move a delivery forward.
_RANK = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.FAILED: 1,  # a failed send may be retried, so it is not final here
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.UNDELIVERED: 3,
    DeliveryStatus.BOUNCED: 3,
}
# The provider's message statuses (mike.core.sms), as a delivery records them: a text the
# provider still holds is still being sent, and one it could not hand over is undelivered.
DELIVERY_STATUS = {
    sms.MessageStatus.ACCEPTED: DeliveryStatus.SENDING,
    sms.MessageStatus.SENT: DeliveryStatus.SENT,
    sms.MessageStatus.DELIVERED: DeliveryStatus.DELIVERED,
    sms.MessageStatus.UNDELIVERED: DeliveryStatus.UNDELIVERED,
    sms.MessageStatus.FAILED: DeliveryStatus.UNDELIVERED,
}
DONE = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)

OPTED_OUT_ERROR = "Not sent: the recipient opted out of texts. Resent when they reply START or YES."
CARRIER_OPT_OUT_MESSAGE = (
    "Twilio refused the text (error {code}): the number opted out at the carrier (it replied "
    "STOP). Not retried; the recipient is now opted out. Resent when they reply START or YES."
)


class DeliveryOutcome:
    SENT = "sent"
    ALREADY_DONE = "already_done"
    BUSY = "busy"
    RETRY = "retry"
    GAVE_UP = "gave_up"


def backoff(attempt: int) -> timedelta:
    """1, 2, 4, 8 … minutes after the attempt-th failure, at most an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempt - 1)))


def card_message(delivery: GiftCardDelivery, card: GiftCard, *, masked: bool) -> str:
    return reward_text(delivery, card, masked=masked)


def begin_delivery(delivery_id) -> GiftCardDelivery | str:
    """Step 1: take the right to send the delivery (it becomes `sending`), or say why not (a
    DeliveryOutcome value)."""
    with transaction.atomic():
        qs = GiftCardDelivery.objects.select_related(
            "recipient__audience__client", "gift_card__brand", "reward"
        )
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        else:
            qs = qs.select_for_update()
        delivery = qs.filter(pk=delivery_id).first()
        if delivery is None:
            # Locked by another worker (or gone): that worker owns it now.
            return DeliveryOutcome.BUSY
        if delivery.status in DONE or _RANK[delivery.status] >= _RANK[DeliveryStatus.SENT]:
            return DeliveryOutcome.ALREADY_DONE
        if delivery.status == DeliveryStatus.FAILED and not delivery.can_retry:
            return DeliveryOutcome.GAVE_UP
        delivery.status = DeliveryStatus.SENDING
        delivery.last_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "last_attempt_at", "updated_at"])
        return delivery


def _log_attempt(delivery: GiftCardDelivery, card: GiftCard, **outcome) -> SmsDeliveryLog:
    """The SmsDeliveryLog row of one attempt to send `delivery`: who, what and where, plus the
    attempt's `outcome` (status, message, SID or error, retry count, provider)."""
    return SmsDeliveryLog.objects.create(
        delivery=delivery,
        recipient=delivery.recipient,
        gift_card=card,
        campaign_id=delivery.campaign_id,
        phone_number=delivery.delivery_address,
        **outcome,
    )


@transaction.atomic
def record_sent(delivery: GiftCardDelivery, card: GiftCard, sent: sms.SentSms) -> None:
    now = timezone.now()
    masked = card_message(delivery, card, masked=True)
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENT,
        twilio_message_sid=sent.sid,
        sms_message=masked,
        sms_status=sent.status,
        sms_sent_at=now,
        error_message="",
        failure_reason="",
        next_attempt_at=None,
        updated_at=now,
    )
    _log_attempt(
        delivery,
        card,
        message_body=masked,
        delivery_status=DeliveryStatus.SENT,
        twilio_message_sid=sent.sid,
        retry_count=delivery.retry_count,
        provider_used=sent.provider,
    )
    reward_changed = RecipientGiftCard.objects.filter(
        pk=delivery.reward_id, status=RewardStatus.CLAIMED
    ).update(
        status=RewardStatus.DELIVERED,
        delivered_at=now,
        delivery_method=delivery.delivery_method,
        delivery_status=RewardDeliveryStatus.SENT,
        delivery_address=delivery.delivery_address,
        updated_at=now,
    )
    card_changed = GiftCard.objects.filter(pk=card.pk, status=GiftCardStatus.CLAIMED).update(
        status=GiftCardStatus.DELIVERED,
        delivered_at=now,
        delivery_method=delivery.delivery_method,
        delivery_address=delivery.delivery_address,
        updated_at=now,
    )
    if card_changed:
        # The pool row is hot (claims update it too): one short F() update, last in the transaction.
        GiftCardPool.objects.filter(pk=card.pool_id).update(
            claimed_cards=F("claimed_cards") - 1, delivered_cards=F("delivered_cards") + 1
        )
    RecipientAuditLog.objects.create(
        recipient=delivery.recipient,
        action=RecipientAuditAction.SMS_SENT,
        metadata={"delivery": str(delivery.pk), "message_sid": sent.sid},
    )
    if reward_changed:
        Event.objects.record(
            EventType.DELIVERED,
            recipient=delivery.recipient,
            campaign=delivery.campaign,
            source=EventSource.SMS,
            delivery=str(delivery.pk),
            brand=card.brand.brand_name,
            value=str(card.card_value),
        )


@transaction.atomic
def record_failure(
    delivery: GiftCardDelivery,
    card: GiftCard,
    error: str,
    *,
    retryable: bool,
    reason: str = DeliveryFailureReason.SEND_ERROR,
):
    now = timezone.now()
    attempts = delivery.retry_count + 1
    gave_up = not retryable or attempts >= delivery.max_retries
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED,
        retry_count=delivery.max_retries if not retryable else attempts,
        error_message=error[:2000],
        failure_reason=reason,
        next_attempt_at=None if gave_up else now + backoff(attempts),
        updated_at=now,
    )
    _log_attempt(
        delivery,
        card,
        message_body=card_message(delivery, card, masked=True),
        delivery_status=DeliveryStatus.FAILED,
        error_message=error[:2000],
        retry_count=attempts,
        last_retry_at=now,
        provider_used=sms.backend_name(),
    )
    if gave_up:
        RecipientGiftCard.objects.filter(pk=delivery.reward_id).update(
            delivery_status=RewardDeliveryStatus.FAILED, delivery_error=error[:2000], updated_at=now
        )
        Event.objects.record(
            EventType.DELIVERY_FAILED,
            recipient=delivery.recipient,
            campaign=delivery.campaign,
            source=EventSource.SMS,
            delivery=str(delivery.pk),
            error=error[:200],
        )
        logger.error("Delivery %s failed for good: %s", delivery.pk, error)
        return DeliveryOutcome.GAVE_UP
    return DeliveryOutcome.RETRY


def record_carrier_refusal(delivery: GiftCardDelivery, card: GiftCard, code: str) -> str:
    """The number opted out at the carrier: fail the delivery for good (the caller opts the number
    out in the same transaction, after locking the delivery: `lock_delivery`)."""
    return record_failure(
        delivery,
        card,
        CARRIER_OPT_OUT_MESSAGE.format(code=code),
        retryable=False,
        reason=DeliveryFailureReason.CARRIER_OPT_OUT,
    )


def lock_delivery(delivery_id) -> GiftCardDelivery:
    """Lock the delivery row for the rest of the caller's transaction: a delivery is locked before
    its recipients (`update_delivery_status` does the same)."""
    return GiftCardDelivery.objects.select_for_update().only("pk").get(pk=delivery_id)


def email_copy(delivery: GiftCardDelivery, card: GiftCard) -> None:
    """Also email the card when the recipient has an address (best effort; SMS is the record)."""
    recipient = delivery.recipient
    if delivery.delivery_method != CardDeliveryMethod.SMS or not recipient.email:
        return
    try:
        send_mail(
            subject=f"Your {card.brand.brand_name} gift card",
            message=card_message(delivery, card, masked=False),
            from_email=None,
            recipient_list=[recipient.email],
        )
    except Exception:  # noqa: BLE001 - an email problem must not undo a delivered SMS
        logger.exception("Email copy of delivery %s failed", delivery.pk)
        return
    RecipientAuditLog.objects.create(
        recipient=recipient,
        action=RecipientAuditAction.EMAIL_SENT,
        metadata={"delivery": str(delivery.pk)},
    )


@transaction.atomic
def update_delivery_status(
    *, message_sid: str, status: str, error_code: str = ""
) -> tuple[GiftCardDelivery | None, bool]:
    """Apply a Twilio message status callback to the delivery with that SID (seed name); returns
    the delivery (None when no delivery has the SID) and whether the carrier refused the text
    because the number opted out (error 21610): the caller then opts the number out, as a STOP
    would, in the same transaction (mike.rewards.delivery).

    Duplicate or out-of-order callbacks are harmless: the status only moves forward. A carrier
    opt-out leaves the delivery undelivered (final: nothing retries it). Locks the delivery, then
    the reward.
    """
    new = DELIVERY_STATUS.get(sms.provider_status(status))
    delivery = (
        GiftCardDelivery.objects.select_for_update()
        .select_related("recipient")
        .filter(twilio_message_sid=message_sid)
        .first()
    )
    carrier_opt_out = False
    if delivery is None or new is None:
        return delivery, carrier_opt_out
    now = timezone.now()
    changes = {"sms_status": status, "updated_at": now}
    if _RANK[new] > _RANK[delivery.status]:
        changes["status"] = new
        if new in DONE:
            # Sent or delivered after all (a late callback for an earlier send): no failure left.
            changes.update(error_message="", failure_reason="")
        if new == DeliveryStatus.DELIVERED:
            changes["delivered_at"] = now
        if new == DeliveryStatus.UNDELIVERED:
            changes["error_message"] = f"Twilio reported {status} (error {error_code or '?'})"
            changes["failure_reason"] = DeliveryFailureReason.UNDELIVERED
            if sms.is_carrier_opt_out(error_code):
                carrier_opt_out = True
                changes["error_message"] = CARRIER_OPT_OUT_MESSAGE.format(code=error_code)
                changes["failure_reason"] = DeliveryFailureReason.CARRIER_OPT_OUT
                changes["next_attempt_at"] = None
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(**changes)
    SmsDeliveryLog.objects.filter(twilio_message_sid=message_sid).update(
        delivery_status=changes.get("status", delivery.status),
        delivered_at=now if changes.get("status") == DeliveryStatus.DELIVERED else None,
        error_message=changes.get("error_message", ""),
    )
    reward_status = {
        DeliveryStatus.DELIVERED: RewardDeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED: RewardDeliveryStatus.FAILED,
    }.get(changes.get("status"))
    if reward_status:
        RecipientGiftCard.objects.filter(pk=delivery.reward_id).update(
            delivery_status=reward_status, updated_at=now
        )
    return delivery, carrier_opt_out


def stuck_deliveries(now=None):
    """Deliveries a worker should have finished but did not: queued or sending for longer than
    DELIVERY_STUCK_MINUTES, or failed and due for their next attempt."""
    now = now or timezone.now()
    stale = now - timedelta(minutes=settings.DELIVERY_STUCK_MINUTES)
    open_ = GiftCardDelivery.objects.filter(
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING], updated_at__lt=stale
    )
    due = GiftCardDelivery.objects.filter(
        status=DeliveryStatus.FAILED,
        next_attempt_at__lte=now,
        retry_count__lt=F("max_retries"),
    )
    return open_.union(due).values_list("pk", flat=True)


def opted_out_deliveries(*, recipient):
    """The recipient's text deliveries that failed only because the number had opted out (Mike
    refused to text it, or the carrier answered 21610): resent when it opts back in with START or
    YES. Deliveries of revoked or rejected rewards are left out."""
    return GiftCardDelivery.objects.filter(
        recipient=recipient,
        delivery_method=CardDeliveryMethod.SMS,
        status__in=[DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED],
        failure_reason__in=OPT_OUT_FAILURE_REASONS,
    ).exclude(reward__status__in=[RewardStatus.REVOKED, RewardStatus.REJECTED])


@transaction.atomic
def retry_delivery(delivery: GiftCardDelivery, *, by=None) -> bool:
    """Staff retry of a failed delivery: gives it a fresh set of attempts (the caller queues it
    after commit: mike.rewards.delivery.retry_delivery). False when it was sent already."""
    locked = GiftCardDelivery.objects.select_for_update().get(pk=delivery.pk)
    if locked.status in DONE:
        return False
    GiftCardDelivery.objects.filter(pk=locked.pk).update(
        status=DeliveryStatus.QUEUED,
        failure_reason="",
        max_retries=locked.retry_count + settings.DELIVERY_MAX_RETRIES,
        next_attempt_at=None,
        updated_at=timezone.now(),
    )
    return True
