"""Twilio's status callbacks of card texts: what the carrier did with a text Mike sent."""

from django.db import transaction
from django.utils import timezone

from mike.core import sms

from ..models import (
    DeliveryFailureReason,
    DeliveryStatus,
    GiftCardDelivery,
    RecipientGiftCard,
    RewardDeliveryStatus,
    SmsDeliveryLog,
)
from .delivery import CARRIER_OPT_OUT_MESSAGE, DELIVERY_STATUS, DONE, STATUS_RANK


@transaction.atomic
def update_delivery_status(
    *, message_sid: str, status: str, error_code: str = ""
) -> tuple[GiftCardDelivery | None, bool]:
    """Apply a Twilio message status callback to the delivery with that SID (seed name); returns
    the delivery (None when no delivery has the SID) and whether the carrier refused the text
    because the number opted out (error 21610): the caller then opts the number out, as a STOP
    would, in the same transaction (mike.rewards.delivery).

    Duplicate or out-of-order callbacks are harmless: the delivery and its SMS log row only move
    forward (a late `sent` after `delivered` changes neither, and never blanks the delivery time
    or an error already recorded). A carrier opt-out leaves the delivery undelivered (final:
    nothing retries it). Locks the delivery, then its log row, then the reward.
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
    error = ""
    if new == DeliveryStatus.UNDELIVERED:
        error = f"Twilio reported {status} (error {error_code or '?'})"
        if sms.is_carrier_opt_out(error_code):
            error = CARRIER_OPT_OUT_MESSAGE.format(code=error_code)
    if STATUS_RANK[new] > STATUS_RANK[delivery.status]:
        changes["status"] = new
        if new in DONE:
            # Sent or delivered after all (a late callback for an earlier send): no failure left.
            changes.update(error_message="", failure_reason="")
        if new == DeliveryStatus.DELIVERED:
            changes["delivered_at"] = now
        if new == DeliveryStatus.UNDELIVERED:
            changes["error_message"] = error
            changes["failure_reason"] = DeliveryFailureReason.UNDELIVERED
            if sms.is_carrier_opt_out(error_code):
                carrier_opt_out = True
                changes["failure_reason"] = DeliveryFailureReason.CARRIER_OPT_OUT
                changes["next_attempt_at"] = None
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(**changes)
    _advance_log(message_sid, new, now=now, error=error)
    reward_status = {
        DeliveryStatus.DELIVERED: RewardDeliveryStatus.DELIVERED,
        DeliveryStatus.UNDELIVERED: RewardDeliveryStatus.FAILED,
    }.get(changes.get("status"))
    if reward_status:
        RecipientGiftCard.objects.filter(pk=delivery.reward_id).update(
            delivery_status=reward_status, updated_at=now
        )
    return delivery, carrier_opt_out


def _advance_log(message_sid: str, new: str, *, now, error: str) -> None:
    """Move the SMS log row of the text forward to `new`, and only forward: its delivery time and
    error, once written, stay."""
    for log in SmsDeliveryLog.objects.select_for_update().filter(twilio_message_sid=message_sid):
        if STATUS_RANK[new] <= STATUS_RANK.get(log.delivery_status, 0):
            continue
        log.delivery_status = new
        fields = ["delivery_status", "updated_at"]
        if new == DeliveryStatus.DELIVERED and log.delivered_at is None:
            log.delivered_at = now
            fields.append("delivered_at")
        if error:
            log.error_message = error
            fields.append("error_message")
        log.save(update_fields=fields)
