"""Trying a delivery again: the next attempt a failed one scheduled, a staff retry, and what the
sweep must queue (giftcards.services.delivery has the attempt itself)."""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ..models import (
    OPT_OUT_FAILURE_REASONS,
    CardDeliveryMethod,
    DeliveryFailureReason,
    DeliveryStatus,
    GiftCardDelivery,
    RecipientGiftCard,
    RewardStatus,
)
from .delivery import WORKER_LOST_ERROR, holding, record_failure, takeable

# Statuses a staff retry may start from: a failure that is over. A delivery queued or being sent
# is someone else's to finish, and one sent is done.
RETRYABLE_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED, DeliveryStatus.BOUNCED)


def schedule_attempt(delivery_id, *, at) -> None:
    """Note that a task is queued to run the delivery's next attempt at `at` (the task's own
    countdown), so the sweep leaves it to that task until DELIVERY_STUCK_MINUTES past `at`."""
    GiftCardDelivery.objects.filter(pk=delivery_id).update(enqueued_at=at)


@transaction.atomic
def retry_delivery(delivery: GiftCardDelivery, *, by=None) -> bool:
    """Staff retry of a delivery that failed: a fresh set of attempts, `queued` again (the caller
    queues the task after commit: mike.rewards.delivery.retry_delivery). Only a failure that is
    over can be retried: a delivery queued or being sent belongs to the attempt under way, and
    one sent is done, and a revoked or rejected reward's card is not the recipient's any more
    (False, nothing changes; `retry_refusal` says why)."""
    locked = GiftCardDelivery.objects.select_for_update().get(pk=delivery.pk)
    if retry_refusal(locked) is not None:
        return False
    now = timezone.now()
    GiftCardDelivery.objects.filter(pk=locked.pk).update(
        status=DeliveryStatus.QUEUED,
        # An unknown outcome stays known as such: the retry asks Twilio before texting again.
        failure_reason=DeliveryFailureReason.OUTCOME_UNKNOWN
        if locked.failure_reason == DeliveryFailureReason.OUTCOME_UNKNOWN
        else "",
        max_retries=locked.retry_count + settings.DELIVERY_MAX_RETRIES,
        next_attempt_at=None,
        enqueued_at=now,
        updated_at=now,
    )
    return True


def retry_refusal(delivery: GiftCardDelivery) -> str | None:
    """Why a staff retry of `delivery` (as loaded) would send nothing, in words for the person who
    asked; None when it may be retried. A delivery of a revoked or rejected reward is never
    resent: its card is no longer the recipient's."""
    reward_status = (
        RecipientGiftCard.objects.filter(pk=delivery.reward_id)
        .values_list("status", flat=True)
        .first()
    )
    if reward_status in (RewardStatus.REVOKED, RewardStatus.REJECTED):
        return "The reward was revoked or rejected; its card is not sent again."
    if delivery.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING):
        return "This delivery is already queued or being sent; it was not sent twice."
    if delivery.status not in RETRYABLE_STATUSES:
        return "This delivery was sent already; there is nothing to resend."
    return None


def deliveries_to_requeue(now=None) -> list:
    """What the sweep must queue a task for, each at most once per DELIVERY_STUCK_MINUTES.

    First, a delivery whose lease lapsed (its worker died between taking it and recording the
    outcome) counts a failed attempt and is returned with its next attempt due at once (or gives
    up when they are spent). Then every delivery a worker may take now (queued, or failed with an attempt due) for
    which no task was queued in the last DELIVERY_STUCK_MINUTES is stamped `enqueued_at = now`
    and returned, under SKIP LOCKED row locks, so two sweeps at once queue each delivery once."""
    now = now or timezone.now()
    stale = now - timedelta(minutes=settings.DELIVERY_STUCK_MINUTES)
    lapsed = GiftCardDelivery.objects.filter(
        Q(lease_expires_at__lt=now)
        # Taken before leases were recorded: stuck once untouched for DELIVERY_STUCK_MINUTES.
        | Q(lease_expires_at__isnull=True, updated_at__lt=stale),
        status=DeliveryStatus.SENDING,
    ).select_related("recipient", "gift_card__brand", "campaign")[:500]
    retried = []
    for delivery in lapsed:
        with transaction.atomic():
            if not holding(delivery).select_for_update().exists():
                continue  # recorded meanwhile
            record_failure(
                delivery,
                delivery.gift_card,
                WORKER_LOST_ERROR,
                retryable=True,
                reason=DeliveryFailureReason.OUTCOME_UNKNOWN,
            )
            if GiftCardDelivery.objects.filter(
                pk=delivery.pk, status=DeliveryStatus.FAILED, next_attempt_at__isnull=False
            ).update(next_attempt_at=now, enqueued_at=now):
                retried.append(delivery.pk)
    # A row from before `enqueued_at` was kept counts from its last change.
    not_recently_queued = Q(enqueued_at__lt=stale) | Q(
        enqueued_at__isnull=True, updated_at__lt=stale
    )
    with transaction.atomic():
        rows = GiftCardDelivery.objects.filter(takeable(now) & not_recently_queued)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        ids = list(rows.order_by("created_at").values_list("pk", flat=True)[:1000])
        GiftCardDelivery.objects.filter(pk__in=ids).update(enqueued_at=now)
    return retried + ids


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
