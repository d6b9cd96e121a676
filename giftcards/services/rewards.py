"""Rewards' own state changes: waiting for stock or for credit, and being rejected with their
recipient."""

from django.db import transaction
from django.utils import timezone

from ..models import (
    GiftCardAuditAction,
    GiftCardAuditLog,
    RecipientGiftCard,
    RewardStatus,
)
from .claim import NoCardAvailable
from .credit import InsufficientCredit

# Rewards still owed a card and not waiting on the provider: a claim refusal moves them to
# awaiting stock or awaiting credit (and back: one cause can follow the other).
WAITING_FOR_A_CARD = (
    RewardStatus.PENDING,
    RewardStatus.AWAITING_STOCK,
    RewardStatus.AWAITING_CREDIT,
)


def mark_awaiting_credit(reward: RecipientGiftCard, *, reason: InsufficientCredit):
    """Move a reward whose claim the client's credit did not cover to `awaiting_credit`, with one
    `claim_refused_insufficient_credit` audit row when it starts waiting (a retry refused again
    writes nothing). Claimed when credit is added (mike.rewards.claims.claim_waiting_for_credit)
    or by the sweep. Returns the reward as it now is, `newly_waiting` set when this call moved
    it."""
    with transaction.atomic():
        locked = (
            RecipientGiftCard.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .get(pk=reward.pk)
        )
        locked.newly_waiting = False
        if (
            locked.status in WAITING_FOR_A_CARD
            and locked.status != RewardStatus.AWAITING_CREDIT
            and locked.gift_card_id is None
        ):
            locked.status = RewardStatus.AWAITING_CREDIT
            locked.save(update_fields=["status", "updated_at"])
            GiftCardAuditLog.objects.create(
                client_id=locked.campaign.client_id,
                action=GiftCardAuditAction.CLAIM_REFUSED_FOR_CREDIT,
                entity_type="recipient_gift_card",
                entity_id=locked.pk,
                metadata={"card_value": str(locked.card_value), "message": str(reason)},
            )
            locked.newly_waiting = True
    reward.status = locked.status
    return locked


def mark_awaiting_stock(reward: RecipientGiftCard, *, reason: NoCardAvailable | None = None):
    """Move a reward whose claim found no card to `awaiting_stock` and write the low-stock audit
    row (the caller tells staff: giftcards.alerts). Only the first miss is recorded; a reward
    already waiting for stock, or in any other status, is left alone. Returns the reward as it now is, with
    `newly_waiting` set when this call moved it."""
    with transaction.atomic():
        locked = RecipientGiftCard.objects.select_for_update().get(pk=reward.pk)
        locked.newly_waiting = False
        if (
            locked.status in WAITING_FOR_A_CARD
            and locked.status != RewardStatus.AWAITING_STOCK
            and locked.gift_card_id is None
        ):
            locked.status = RewardStatus.AWAITING_STOCK
            locked.save(update_fields=["status", "updated_at"])
            pool = reason.pool if reason is not None else None
            GiftCardAuditLog.objects.create(
                client_id=locked.campaign.client_id,
                action=GiftCardAuditAction.LOW_STOCK,
                entity_type="gift_card_pool" if pool is not None else "recipient_gift_card",
                entity_id=pool.pk if pool is not None else locked.pk,
                metadata={
                    "reward": str(locked.pk),
                    "brand": str(locked.brand_id),
                    "card_value": str(locked.card_value),
                    "purchase_method": reason.purchase_method if reason is not None else None,
                    "message": str(reason) if reason is not None else "",
                },
            )
            locked.newly_waiting = True
    reward.status = locked.status
    return locked


# Rewards that no card backs yet: rejecting their recipient rejects them too. A purchase still
# pending for one is settled all the same, its card kept as stock (services.purchase).
UNCLAIMED_STATUSES = (*WAITING_FOR_A_CARD, RewardStatus.PURCHASE_PENDING)


def reject_rewards_of(*, recipient, by=None, reason: str = "") -> int:
    """Reject the recipient's rewards no card backs yet (waiting for approval, stock, credit or a
    provider purchase), each with a
    `reward_rejected` audit row, in the caller's transaction and after the caller locked the
    recipient (the lock order: recipient, then rewards). A card already claimed stays with its
    reward. Returns how many were rejected."""
    with transaction.atomic():
        rewards = list(
            RecipientGiftCard.objects.select_for_update()
            .filter(recipient=recipient, status__in=UNCLAIMED_STATUSES, gift_card__isnull=True)
            .select_related("campaign")
            .order_by("pk")
        )
        RecipientGiftCard.objects.filter(pk__in=[reward.pk for reward in rewards]).update(
            status=RewardStatus.REJECTED, updated_at=timezone.now()
        )
        GiftCardAuditLog.objects.bulk_create(
            GiftCardAuditLog(
                client_id=reward.campaign.client_id,
                action=GiftCardAuditAction.REWARD_REJECTED,
                entity_type="recipient_gift_card",
                entity_id=reward.pk,
                user=by,
                changes={"status": [reward.status, RewardStatus.REJECTED]},
                metadata={"reason": reason, "recipient": str(recipient.pk)},
            )
            for reward in rewards
        )
    return len(rewards)
