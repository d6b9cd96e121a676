"""The periodic sweep: whatever should have happened but did not (a dead worker, a broker
outage, a lost message) is moved on again."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from giftcards.models import RecipientGiftCard, RewardStatus
from giftcards.services.delivery import stuck_deliveries
from giftcards.services.purchase import settle_pending_purchases
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus

from .claims import claim_pending_rewards, queue_delivery

logger = logging.getLogger(__name__)


def sweep_stuck_work() -> dict:
    """Re-queue deliveries stuck or due for retry, approvals (and re-asks of an expired opt-in)
    whose opt-in text never left, rewards waiting for stock that may have arrived, and provider
    purchases whose answer was lost. Safe to run any time: every task it queues is idempotent."""
    from .tasks import deliver_gift_card, send_opt_in_sms

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
    for delivery in settled:
        queue_delivery(delivery.pk)
    summary = {
        "deliveries": len(deliveries),
        "opt_ins": len(opt_ins),
        "reasks": len(reasks),
        "awaiting": len(waiting),
        "purchases_settled": len(settled),
    }
    if any(summary.values()):
        logger.info("Sweep re-queued %s", summary)
    return summary
