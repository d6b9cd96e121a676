"""A claimed card's delivery rows: taking one to send and recording what the send did. Twilio's
status callbacks are `callbacks`, retries (staff, scheduled, the sweep's) `retries`. The send
itself, and the opt-out a refused text leads to, are the reward pipeline's
(`mike.rewards.delivery`), which calls these steps.

The `GiftCardDelivery` row is the source of truth: the claim writes it `queued` in its own
transaction, a task only moves it forward. A delivery is sent at most once per attempt, in three
steps, with no lock held while Twilio is called:

1. take the row: one UPDATE moves it from `queued` (or `failed` with an attempt due) to `sending`
   with a lease (DELIVERY_LEASE_SECONDS). A second worker, a staff retry or a sweep finds it
   taken and sends nothing; a re-run after success finds it sent;
2. send the text (or the email);
3. record the outcome (message SID, SMS log, reward/card/pool status) in one transaction, only
   while the lease is still this attempt's.

A worker that dies between 1 and 3 leaves the row `sending` until its lease lapses; the sweep then
counts the attempt as failed with its outcome unknown (`OUTCOME_UNKNOWN`: the text may have left),
as does a send whose answer never came (a timeout). Twilio has no idempotency key, so the next
attempt first asks Twilio's message list whether a text with this card's body went to the number
(`mike.core.sms.find_sent`) and, if one did, records that text instead of sending another; when
Twilio cannot be asked, the attempt fails again rather than text blind. A card is never lost and
never texted twice. The sweep queues a task for a queued or due delivery only once
per DELIVERY_STUCK_MINUTES (`enqueued_at`), so a backlog in the broker does not multiply tasks.

A recipient who opted out is not texted: the delivery fails for good without calling Twilio. When
Twilio refuses the text because the number opted out at the carrier (error 21610, at send time or
in a status callback), the delivery fails for good too and the number is opted out through
`recipients.services.opt_out_refused_number`, the path a STOP text takes. When the number opts
back in (START or YES), such deliveries are re-queued by themselves (retries.opted_out_deliveries).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from campaigns.models import Event, EventSource, EventType
from mike import webhooks
from mike.core import sms
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType
from recipients.models import RecipientAuditAction, RecipientAuditLog

from ..models import (
    DeliveryFailureReason,
    DeliveryStatus,
    GiftCard,
    GiftCardDelivery,
    GiftCardStatus,
    RecipientGiftCard,
    RewardDeliveryStatus,
    RewardStatus,
    SmsDeliveryLog,
)
from .inventory import move_pool_counters
from .texts import reward_text

logger = logging.getLogger(__name__)

# How far each status is along the way; a callback may only move a delivery forward.
STATUS_RANK = {
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


WORKER_LOST_ERROR = (
    "The worker sending this stopped before it recorded what happened, so whether the text left "
    "is unknown. Counted as a failed attempt; the next attempt asks Twilio what it sent before "
    "texting again."
)


class DeliveryOutcome:
    SENT = "sent"
    ALREADY_DONE = "already_done"
    BUSY = "busy"
    NOT_DUE = "not_due"
    RETRY = "retry"
    GAVE_UP = "gave_up"


def backoff(attempt: int) -> timedelta:
    """1, 2, 4, 8 … minutes after the attempt-th failure, at most DELIVERY_RETRY_MAX_MINUTES, which
    stays below the broker's visibility timeout (a Redis broker redelivers a task whose countdown
    reaches it, so a longer wait would run the attempt twice; mike.core.checks enforces it)."""
    return timedelta(minutes=min(settings.DELIVERY_RETRY_MAX_MINUTES, 2 ** max(0, attempt - 1)))


def card_message(delivery: GiftCardDelivery, card: GiftCard, *, masked: bool) -> str:
    return reward_text(delivery, card, masked=masked)


# --- Taking a delivery to send -----------------------------------------------------------------


def takeable(now, *, early: bool = False) -> Q:
    """A delivery a worker may take now: waiting to be sent, or failed with an attempt left that
    is due (or, `early`, scheduled at all)."""
    due = Q() if early else Q(next_attempt_at__lte=now)
    return Q(status=DeliveryStatus.QUEUED) | (
        Q(
            status=DeliveryStatus.FAILED,
            retry_count__lt=F("max_retries"),
            next_attempt_at__isnull=False,
        )
        & due
    )


def begin_delivery(delivery_id, *, early: bool = False) -> GiftCardDelivery | str:
    """Step 1: take the delivery to send it, or say why not (a DeliveryOutcome value).

    One UPDATE takes the row from `queued` (or `failed` with an attempt due) to `sending` with a
    lease until now + DELIVERY_LEASE_SECONDS; the database lets one of two concurrent callers
    through and the other sees the row taken (BUSY). The returned delivery carries its lease in
    `lease_expires_at`: the outcome is recorded only while the row still holds that lease.

    `early` lets the task the previous attempt scheduled take its retry before `next_attempt_at`
    (clocks differ by a little, and eager tasks run their countdown at once); anyone else finds
    an attempt not yet due NOT_DUE."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    taken = (
        GiftCardDelivery.objects.filter(pk=delivery_id)
        .filter(takeable(now, early=early))
        .update(
            status=DeliveryStatus.SENDING,
            lease_expires_at=lease,
            last_attempt_at=now,
            updated_at=now,
        )
    )
    if taken:
        return GiftCardDelivery.objects.select_related(
            "recipient__audience__client", "gift_card__brand", "reward"
        ).get(pk=delivery_id)
    delivery = GiftCardDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None or delivery.status == DeliveryStatus.SENDING:
        return DeliveryOutcome.BUSY  # gone, or another worker holds it
    if STATUS_RANK[delivery.status] >= STATUS_RANK[DeliveryStatus.SENT]:
        return DeliveryOutcome.ALREADY_DONE
    if delivery.status == DeliveryStatus.FAILED and delivery.can_retry and delivery.next_attempt_at:
        return DeliveryOutcome.NOT_DUE
    return DeliveryOutcome.GAVE_UP


def holding(delivery: GiftCardDelivery):
    """The delivery's row while it still holds the lease this attempt took (empty once the lease
    lapsed and the sweep, or another attempt, moved it on)."""
    return GiftCardDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.SENDING, lease_expires_at=delivery.lease_expires_at
    )


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


# --- Recording what a send did -------------------------------------------------------------------


@transaction.atomic
def record_sent(delivery: GiftCardDelivery, card: GiftCard, sent: sms.SentSms | None) -> None:
    """Step 3 after a send that went out: by text (`sent`, the provider's answer) or, with `sent`
    None, by email. The delivery is sent, the reward and card delivered, the pool counts the card
    as delivered, with the log, audit row and event. Written even when the lease lapsed meanwhile
    (the text did leave), but then only if no later attempt has recorded a send already."""
    now = timezone.now()
    masked = card_message(delivery, card, masked=True)
    changes = {
        "status": DeliveryStatus.SENT,
        "sms_message": masked,
        "error_message": "",
        "failure_reason": "",
        "next_attempt_at": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
    if sent is not None:
        changes.update(twilio_message_sid=sent.sid, sms_status=sent.status, sms_sent_at=now)
    else:
        changes.update(delivered_at=now)
    if not holding(delivery).update(**changes):
        late = GiftCardDelivery.objects.filter(pk=delivery.pk).exclude(
            status__in=[DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
        )
        if not late.update(**changes):
            logger.warning("Delivery %s was sent again by a later attempt", delivery.pk)
        else:
            logger.warning("Delivery %s was sent after its lease lapsed", delivery.pk)
    if sent is not None:
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
        delivery_status=RewardDeliveryStatus.SENT
        if sent is not None
        else RewardDeliveryStatus.DELIVERED,
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
        move_pool_counters(
            card.pool_id, from_status=GiftCardStatus.CLAIMED, to_status=GiftCardStatus.DELIVERED
        )
    RecipientAuditLog.objects.create(
        recipient=delivery.recipient,
        action=RecipientAuditAction.SMS_SENT
        if sent is not None
        else RecipientAuditAction.EMAIL_SENT,
        metadata={"delivery": str(delivery.pk), "message_sid": sent.sid if sent else ""},
    )
    if reward_changed:
        Event.objects.record(
            EventType.DELIVERED,
            recipient=delivery.recipient,
            campaign=delivery.campaign,
            source=EventSource.SMS if sent is not None else EventSource.SYSTEM,
            delivery=str(delivery.pk),
            method=delivery.delivery_method,
            brand=card.brand.brand_name,
            value=str(card.card_value),
        )
        webhooks.emit(
            WebhookEventType.GIFT_CARD_DELIVERED,
            # The campaign is loaded for the event above; the audience is not.
            client=delivery.campaign.client_id
            if delivery.campaign_id
            else delivery.recipient.audience.client_id,
            payload=lambda: payloads.delivered(
                delivery, brand_name=card.brand.brand_name, value=card.card_value, delivered_at=now
            ),
            is_test=delivery.recipient.is_test,
        )


@transaction.atomic
def record_failure(
    delivery: GiftCardDelivery,
    card: GiftCard,
    error: str,
    *,
    retryable: bool,
    reason: str = DeliveryFailureReason.SEND_ERROR,
    holding_lease: bool = True,
):
    """Step 3 after a send that failed: the attempt is counted, and the next one is due after
    `backoff` unless the failure is final (`retryable` False, or the attempts are spent). With
    `holding_lease` (the attempt's own worker), nothing is written once the lease has lapsed and
    the sweep moved the row on. Returns RETRY or GAVE_UP."""
    now = timezone.now()
    attempts = delivery.retry_count + 1
    gave_up = not retryable or attempts >= delivery.max_retries
    rows = holding(delivery) if holding_lease else GiftCardDelivery.objects.filter(pk=delivery.pk)
    changed = rows.update(
        status=DeliveryStatus.FAILED,
        retry_count=delivery.max_retries if not retryable else attempts,
        error_message=error[:2000],
        failure_reason=reason,
        next_attempt_at=None if gave_up else now + backoff(attempts),
        lease_expires_at=None,
        updated_at=now,
    )
    if not changed:
        logger.warning("Delivery %s failed after its lease lapsed: %s", delivery.pk, error)
        return DeliveryOutcome.BUSY
    _log_attempt(
        delivery,
        card,
        message_body=card_message(delivery, card, masked=True),
        delivery_status=DeliveryStatus.FAILED,
        error_message=error[:2000],
        retry_count=attempts,
        last_retry_at=now,
        provider_used=sms.SmsProvider.SANDBOX
        if delivery.is_sandbox
        else sms.SmsProvider.of(sms.backend_name()),
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
