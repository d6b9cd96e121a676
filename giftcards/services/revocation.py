"""Staff revoking a reward (SPEC §10): with a reason, audited with a snapshot of what was revoked.

What happens to the card depends on whether the recipient has seen it:
- no card yet (waiting for approval, stock, credit or the provider): the reward is revoked; a
  provider purchase still pending is settled all the same and its card kept as stock;
- a card claimed but never sent (its delivery queued or failed): the card goes back to the pool
  as available stock, its value is refunded to the client's credit, and its deliveries are
  closed so nothing sends it;
- a card delivered: the card is revoked (it left Mike, it cannot be given to anyone else) and its
  value stays spent.
A card being texted at this moment (a delivery `sending` under its lease) cannot be revoked until
that send is recorded: the refusal says to try again.

Lock order, as in the claim: the recipient, the reward, its deliveries, the card, the pool and
the credit account.
"""

from django.db import transaction
from django.utils import timezone

from campaigns.models import Event, EventSource, EventType
from mike.core.errors import DomainError
from recipients.models import Recipient, RecipientAuditAction, RecipientAuditLog

from ..models import (
    DeliveryFailureReason,
    DeliveryStatus,
    GiftCard,
    GiftCardAuditAction,
    GiftCardAuditLog,
    GiftCardDelivery,
    GiftCardStatus,
    RecipientGiftCard,
    RewardStatus,
    TransactionType,
)
from .credit import credit_account_for, post_credit
from .inventory import move_pool_counters

MIN_REASON_LENGTH = 10
# Deliveries that will never send the card again once it is revoked.
OPEN_DELIVERIES = (DeliveryStatus.QUEUED, DeliveryStatus.FAILED)


class RevocationRefused(DomainError):
    """The reward cannot be revoked now (the message says why)."""


def revoke_reward(*, reward: RecipientGiftCard, by, reason: str) -> RecipientGiftCard:
    """Revoke the reward with a reason of at least MIN_REASON_LENGTH characters (see the module's
    docstring for what happens to its card). Raises RevocationRefused for a short reason, a
    reward already revoked or rejected, or a card being sent right now; nothing changes then.
    Writes a `reward_revoked` gift card audit row (with a snapshot of the reward, its card,
    masked, and its deliveries), a recipient audit row and a `card_revoked` event."""
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise RevocationRefused(
            f"Give a reason of at least {MIN_REASON_LENGTH} characters for revoking a reward."
        )
    with transaction.atomic():
        recipient = Recipient.objects.select_for_update(of=("self",)).get(pk=reward.recipient_id)
        locked = (
            RecipientGiftCard.objects.select_for_update(of=("self",))
            .select_related("campaign", "brand")
            .get(pk=reward.pk)
        )
        if locked.status in (RewardStatus.REVOKED, RewardStatus.REJECTED):
            raise RevocationRefused(
                f"This reward is already {locked.get_status_display().lower()}."
            )
        deliveries = list(
            GiftCardDelivery.objects.select_for_update().filter(reward=locked).order_by("pk")
        )
        now = timezone.now()
        if any(
            d.status == DeliveryStatus.SENDING and d.lease_expires_at and d.lease_expires_at > now
            for d in deliveries
        ):
            raise RevocationRefused(
                "The card is being texted right now; try again in a minute, once the send is "
                "recorded."
            )
        card = (
            GiftCard.objects.select_for_update().get(pk=locked.gift_card_id)
            if locked.gift_card_id
            else None
        )
        snapshot = _snapshot(locked, card, deliveries)
        what = _revoke_card(locked, card, recipient, deliveries, reason=reason, by=by, now=now)
        RecipientGiftCard.objects.filter(pk=locked.pk).update(
            status=RewardStatus.REVOKED,
            revoked_at=now,
            revoked_reason=reason,
            gift_card=None if what == "returned_to_stock" else locked.gift_card_id,
            updated_at=now,
        )
        GiftCardAuditLog.objects.create(
            client_id=locked.campaign.client_id,
            action=GiftCardAuditAction.REWARD_REVOKED,
            entity_type="recipient_gift_card",
            entity_id=locked.pk,
            user=by,
            changes={"status": [locked.status, RewardStatus.REVOKED]},
            metadata={"reason": reason, "card": what, "snapshot": snapshot},
        )
        RecipientAuditLog.objects.create(
            recipient=recipient,
            action=RecipientAuditAction.REWARD_REVOKED,
            performed_by=by,
            metadata={"reward": str(locked.pk), "reason": reason, "card": what},
        )
        Event.objects.record(
            EventType.CARD_REVOKED,
            recipient=recipient,
            campaign=locked.campaign,
            source=EventSource.ADMIN,
            reward=str(locked.pk),
            card=what,
        )
    locked.refresh_from_db()
    return locked


def _revoke_card(reward, card, recipient, deliveries, *, reason, by, now) -> str:
    """Take the card out of the recipient's hands; returns what became of it."""
    for delivery in deliveries:
        if delivery.status in OPEN_DELIVERIES or delivery.status == DeliveryStatus.SENDING:
            GiftCardDelivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.FAILED,
                retry_count=delivery.max_retries,
                next_attempt_at=None,
                lease_expires_at=None,
                failure_reason=DeliveryFailureReason.REVOKED,
                error_message=f"Not sent: the reward was revoked ({reason}).",
                updated_at=now,
            )
    if card is None:
        return "none"
    if recipient.gift_card_assigned_id == card.pk:
        Recipient.objects.filter(pk=recipient.pk).update(gift_card_assigned=None, updated_at=now)
    if card.status == GiftCardStatus.CLAIMED:
        # Never sent: back to stock for the next claim, and the client gets its money back.
        GiftCard.objects.filter(pk=card.pk).update(
            status=GiftCardStatus.AVAILABLE,
            claimed_at=None,
            claimed_by_recipient=None,
            claimed_by_call_session=None,
            assignment_source="",
            assignment_campaign=None,
            assignment_condition=None,
            updated_at=now,
        )
        move_pool_counters(
            card.pool_id, from_status=GiftCardStatus.CLAIMED, to_status=GiftCardStatus.AVAILABLE
        )
        post_credit(
            credit_account_for(reward.campaign.client),
            card.card_value,
            transaction_type=TransactionType.REFUND,
            description=f"{reward.brand} ${card.card_value} reward revoked before it was sent",
            reference_type="reward",
            reference_id=reward.pk,
            created_by=by,
        )
        return "returned_to_stock"
    GiftCard.objects.filter(pk=card.pk).update(status=GiftCardStatus.REVOKED, updated_at=now)
    move_pool_counters(card.pool_id, from_status=card.status, to_status=GiftCardStatus.REVOKED)
    return "revoked"


def _snapshot(reward, card, deliveries) -> dict:
    return {
        "reward": {
            "status": reward.status,
            "brand": reward.brand.brand_name,
            "card_value": str(reward.card_value),
            "purchase_status": reward.purchase_status,
            "delivery_status": reward.delivery_status,
        },
        "card": None
        if card is None
        else {
            "id": str(card.pk),
            "code": card.masked_code,
            "status": card.status,
            "pool": str(card.pool_id),
        },
        "deliveries": [
            {"id": str(d.pk), "status": d.status, "method": d.delivery_method} for d in deliveries
        ],
    }
