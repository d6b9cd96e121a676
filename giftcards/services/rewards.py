"""Rewards' own state changes: waiting for stock or for credit, and being rejected with their
recipient."""

from django.db import transaction
from django.utils import timezone

from ..models import (
    CLAIMABLE_REWARD_STATUSES,
    OWED_A_CARD_STATUSES,
    GiftCardAuditAction,
    GiftCardAuditLog,
    RecipientGiftCard,
    RewardStatus,
)
from .claim import NoCardAvailable
from .credit import InsufficientCredit


def _start_waiting(reward: RecipientGiftCard, status: str, audit) -> RecipientGiftCard:
    """Move a reward still owed a card to `status` (awaiting stock or credit) under its row lock,
    writing the audit row `audit(locked)` builds only when it starts waiting: a retry refused for
    the same cause writes nothing. Returns the reward as it now is, with `newly_waiting` set when
    this call moved it."""
    with transaction.atomic():
        locked = (
            RecipientGiftCard.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .get(pk=reward.pk)
        )
        locked.newly_waiting = (
            # A claim refusal moves a claimable reward to waiting for stock or for credit (and
            # back: one cause can follow the other).
            locked.status in CLAIMABLE_REWARD_STATUSES
            and locked.status != status
            and locked.gift_card_id is None
        )
        if locked.newly_waiting:
            locked.status = status
            locked.save(update_fields=["status", "updated_at"])
            audit(locked).save(force_insert=True)
    reward.status = locked.status
    return locked


def mark_awaiting_credit(reward: RecipientGiftCard, *, reason: InsufficientCredit):
    """A reward whose claim the client's credit did not cover waits in `awaiting_credit`, with one
    `claim_refused_insufficient_credit` audit row (see `_start_waiting`). Claimed when credit is
    added (mike.rewards.claims.claim_waiting_for_credit) or by the sweep."""
    return _start_waiting(
        reward,
        RewardStatus.AWAITING_CREDIT,
        lambda locked: GiftCardAuditLog(
            client_id=locked.campaign.client_id,
            action=GiftCardAuditAction.CLAIM_REFUSED_FOR_CREDIT,
            entity_type="recipient_gift_card",
            entity_id=locked.pk,
            metadata={"card_value": str(locked.card_value), "message": str(reason)},
        ),
    )


def mark_awaiting_stock(reward: RecipientGiftCard, *, reason: NoCardAvailable | None = None):
    """A reward whose claim found no card waits in `awaiting_stock`, with one low-stock audit row
    (see `_start_waiting`; the caller tells staff: giftcards.alerts)."""
    pool = reason.pool if reason is not None else None
    return _start_waiting(
        reward,
        RewardStatus.AWAITING_STOCK,
        lambda locked: GiftCardAuditLog(
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
        ),
    )


def reject_rewards_of(*, recipient, by=None, reason: str = "") -> int:
    """Reject the recipient's rewards no card backs yet (waiting for approval, stock, credit or a
    provider purchase), each with a
    `reward_rejected` audit row, in the caller's transaction and after the caller locked the
    recipient (the lock order: recipient, then rewards). A card already claimed stays with its
    reward. Returns how many were rejected."""
    with transaction.atomic():
        rewards = list(
            RecipientGiftCard.objects.select_for_update()
            # A purchase still pending is settled all the same, its card kept as stock.
            .filter(recipient=recipient, status__in=OWED_A_CARD_STATUSES, gift_card__isnull=True)
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
