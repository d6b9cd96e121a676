"""Celery tasks of the giftcards app. They take ids, re-read the database, and are idempotent:
the rows are the truth and a task is only the trigger (see giftcards.delivery)."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus
from recipients.tasks import send_opt_in_sms

from .alerts import send_staff_alerts
from .delivery import DeliveryOutcome, backoff, send_delivery, stuck_deliveries
from .models import GiftCardDelivery, RecipientGiftCard, RewardStatus
from .purchase import settle_pending_purchases
from .services import claim_pending_rewards

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def deliver_gift_card(delivery_id: str) -> str:
    outcome = send_delivery(delivery_id)
    if outcome == DeliveryOutcome.RETRY:
        delivery = GiftCardDelivery.objects.only("retry_count").get(pk=delivery_id)
        countdown = int(backoff(delivery.retry_count).total_seconds())
        deliver_gift_card.apply_async((str(delivery_id),), countdown=countdown)
    return outcome


@shared_task(acks_late=True)
def sweep_stuck_work() -> dict:
    """Re-queue what should have happened but did not (a dead worker, a broker outage, a lost
    message): deliveries stuck or due for retry, approvals (and re-asks of an expired opt-in) whose opt-in
    text never left, and
    rewards waiting for stock that may have arrived. Safe to run any time: every task it queues
    is idempotent."""
    now = timezone.now()
    deliveries = [str(pk) for pk in stuck_deliveries(now)]
    for pk in deliveries:
        deliver_gift_card.delay(pk)

    stale = now - timedelta(minutes=settings.DELIVERY_STUCK_MINUTES)
    opt_ins = [
        str(pk)
        for pk in Recipient.objects.filter(
            approval_status=ApprovalStatus.APPROVED,
            sms_opt_in_status=SmsOptInStatus.NOT_SENT,
            approved_at__lt=stale,
        ).values_list("pk", flat=True)[:1000]
    ]
    for pk in opt_ins:
        send_opt_in_sms.delay(pk)
    # Re-asks of an expired opt-in whose text never left: back to pending, but no opt-in text
    # sent since their last reply (a recipient who was asked and has not answered is left alone).
    reasks = [
        str(pk)
        for pk in Recipient.objects.filter(
            sms_opt_in_status=SmsOptInStatus.PENDING,
            sms_opt_in_response_at__isnull=False,
            updated_at__lt=stale,
        )
        .filter(
            Q(sms_opt_in_sent_at__isnull=True)
            | Q(sms_opt_in_sent_at__lt=F("sms_opt_in_response_at"))
        )
        .values_list("pk", flat=True)[:1000]
    ]
    for pk in reasks:
        send_opt_in_sms.delay(pk, reask=True)

    waiting = list(
        RecipientGiftCard.objects.filter(status=RewardStatus.AWAITING_STOCK)
        .values_list("recipient_id", flat=True)
        .distinct()[:500]
    )
    for recipient in Recipient.objects.filter(pk__in=waiting):
        claim_pending_rewards(recipient=recipient)

    settled = settle_pending_purchases()
    summary = {
        "deliveries": len(deliveries),
        "opt_ins": len(opt_ins),
        "reasks": len(reasks),
        "awaiting": len(waiting),
        "purchases_settled": settled,
    }
    if any(summary.values()):
        logger.info("Sweep re-queued %s", summary)
    return summary


@shared_task(acks_late=True)
def send_stock_alerts() -> dict:
    """Email staff about low stock, low credit and failed provisioning (giftcards.alerts). Beat
    runs it every 15 minutes and mark_awaiting_stock queues it at once. Idempotent: a problem
    already alerted is not sent again before ALERT_REPEAT_HOURS. Not retried here: a failed send
    records nothing, so the next beat sends it."""
    return send_staff_alerts().as_dict()
