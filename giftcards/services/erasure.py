"""The gift card domain's part of a recipient's erasure and of the retention purge: the texts of
card deliveries. The rewards, cards, ledger rows and sales are never touched: they are the
business's records, not the person's."""

from datetime import datetime

from django.db.models import Q

from mike.core.bulk import update_in_batches

from ..models import DeliveryStatus, GiftCardDelivery, SmsDeliveryLog
from ..models.choices import OPEN_DELIVERY_STATUSES

# What an erased delivery's address reads as: not a phone or an email anything could send to.
ERASED_ADDRESS = "erased"


def deliveries_in_flight(*, recipient_id) -> int:
    """How many of the recipient's card deliveries are still moving: queued, being sent, or
    failed with a retry scheduled. An erasure waits for them (mike.rewards.erasure)."""
    return (
        GiftCardDelivery.objects.filter(recipient_id=recipient_id)
        .filter(
            Q(status__in=(DeliveryStatus.QUEUED, DeliveryStatus.SENDING))
            | Q(status=DeliveryStatus.FAILED, next_attempt_at__isnull=False)
        )
        .count()
    )


def erase_delivery_texts(*, recipient_id) -> int:
    """Blank the messages, addresses and provider errors of the recipient's card deliveries and
    SMS logs (statuses, times and cards stay). Idempotent; how many rows were changed."""
    changed = (
        GiftCardDelivery.objects.filter(recipient_id=recipient_id)
        .exclude(delivery_address=ERASED_ADDRESS)
        .update(sms_message="", delivery_address=ERASED_ADDRESS, error_message="")
    )
    changed += (
        SmsDeliveryLog.objects.filter(recipient_id=recipient_id)
        .filter(~Q(message_body="") | ~Q(phone_number="") | ~Q(error_message=""))
        .update(message_body="", phone_number="", error_message="")
    )
    return changed


def purge_delivery_texts(*, before: datetime, batch_size: int) -> int:
    """Blank the message bodies of card deliveries finished and SMS logs written before
    `before`, in batches (an open delivery keeps its message until it is done); how many."""
    deliveries = (
        GiftCardDelivery.objects.filter(created_at__lt=before)
        .exclude(status__in=OPEN_DELIVERY_STATUSES)
        .exclude(sms_message="")
    )
    logs = SmsDeliveryLog.objects.filter(created_at__lt=before).exclude(message_body="")
    return update_in_batches(deliveries, batch_size=batch_size, sms_message="") + (
        update_in_batches(logs, batch_size=batch_size, message_body="")
    )
