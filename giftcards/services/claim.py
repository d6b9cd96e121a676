"""The atomic claim of one card for one reward (`claim_card_atomic`)."""

from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from calls.models import ConditionMetSource
from campaigns.events import record_event
from campaigns.models import EventSource, EventType
from recipients.models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
)

from ..models import (
    AssignmentSource,
    CardDeliveryMethod,
    DeliveryStatus,
    GiftCard,
    GiftCardAuditLog,
    GiftCardDelivery,
    GiftCardPool,
    GiftCardSale,
    GiftCardStatus,
    PurchaseMethod,
    RecipientGiftCard,
    RewardStatus,
    TransactionType,
)
from .credit import CENT, credit_account_for, post_credit

# --- Claiming a card for a reward --------------------------------------------------------------
#
# Lock order (every claim takes them in this order, so two claims never wait on each other in a
# cycle): the recipient row, the reward row, one card (SKIP LOCKED), the pool row, the credit
# account row. The recipient comes first because the approval and opt-in services lock the
# recipient and then claim its rewards; taking it first here too keeps that order everywhere.
#
# The pool row and the credit account row are hot: every claim of a client touches both. They are
# written last, by single UPDATEs (an F() expression for the pool counters, post_credit's short
# read-modify-write for the balance), after every slower insert of the claim, so each claim holds
# them only for those two statements, one ledger insert and the sale insert before COMMIT; claims
# for the same pool queue on them for that instant instead of for the whole transaction. The cards
# themselves are not hot: SKIP LOCKED hands concurrent claims different cards without waiting.

CLAIMABLE_REWARD_STATUSES = (RewardStatus.PENDING, RewardStatus.AWAITING_STOCK)
# A redeemed recipient was approved before redeeming; a later condition still earns its reward.
APPROVED_STATUSES = (ApprovalStatus.APPROVED, ApprovalStatus.REDEEMED)
COST_BASIS = Decimal("0.95")
# Pools that may buy from the provider when they hold no card.
PROVIDER_METHODS = (PurchaseMethod.API_ONLY, PurchaseMethod.FALLBACK)

EVENT_SOURCE_FOR_ASSIGNMENT = {
    AssignmentSource.CALL_CENTER: EventSource.CALL,
    AssignmentSource.LANDING_PAGE: EventSource.PURL,
    AssignmentSource.FORM_SUBMISSION: EventSource.FORM,
    AssignmentSource.API: EventSource.API,
    AssignmentSource.MANUAL: EventSource.ADMIN,
}

ASSIGNMENT_FOR_CONDITION_SOURCE = {
    ConditionMetSource.FORM_SUBMITTED: AssignmentSource.FORM_SUBMISSION,
    ConditionMetSource.CRM_WEBHOOK: AssignmentSource.API,
    ConditionMetSource.ADMIN: AssignmentSource.MANUAL,
}


class NoCardAvailable(Exception):
    """The client's pool for a reward's brand and value has no available card (or no such active
    pool exists). Raised before anything was changed."""

    def __init__(self, *, client, brand, card_value, pool=None):
        self.client = client
        self.brand = brand
        self.card_value = card_value
        self.pool = pool
        self.purchase_method = pool.purchase_method if pool is not None else None
        where = f"pool {pool.pool_name}" if pool is not None else "no active pool"
        super().__init__(f"No {brand} ${card_value} gift card is available ({where}).")


class RewardNotClaimable(Exception):
    """The reward is rejected, revoked or waiting on a provider purchase: no card is assigned."""

    def __init__(self, reward: RecipientGiftCard):
        self.reward = reward
        super().__init__(
            f"This reward is {reward.get_status_display().lower()}; no card can be assigned."
        )


def get_recipient_gift_card_for_condition(*, recipient, condition) -> RecipientGiftCard | None:
    """The recipient's reward for the condition (with its card loaded), or None."""
    return (
        RecipientGiftCard.objects.select_related("gift_card")
        .filter(recipient=recipient, condition=condition)
        .first()
    )


def ensure_reward(*, recipient, condition) -> RecipientGiftCard:
    """The recipient's reward for the condition, created `pending` (brand and value copied from
    the condition) when missing. Safe under races: the unique (recipient, condition) constraint
    decides, and the loser reads the winner's row."""
    reward = RecipientGiftCard.objects.filter(recipient=recipient, condition=condition).first()
    if reward is not None:
        return reward
    try:
        with transaction.atomic():
            return RecipientGiftCard.objects.create(
                recipient=recipient,
                condition=condition,
                campaign_id=condition.campaign_id,
                brand_id=condition.brand_id,
                card_value=condition.card_value,
            )
    except IntegrityError:
        return RecipientGiftCard.objects.get(recipient=recipient, condition=condition)


def _lock_card(pool_ids, card_id=None):
    """Lock the oldest available card of the pools (or exactly `card_id`), skipping cards other
    claims hold."""
    features = connection.features
    if features.has_select_for_update_skip_locked:
        cards = GiftCard.objects.select_for_update(skip_locked=True)
    else:
        # SQLite (development only) locks the whole database for a write anyway.
        cards = GiftCard.objects.select_for_update()
    cards = cards.filter(pool_id__in=pool_ids, status=GiftCardStatus.AVAILABLE)
    if card_id is not None:
        cards = cards.filter(pk=card_id)
    return cards.order_by("created_at").first()


def _claim(
    *, recipient, condition, assignment_source: str, call_session, card_id=None
) -> tuple[GiftCard, GiftCardDelivery | None]:
    """claim_card_atomic's body; also returns the delivery it queued (None when the reward already
    had its card)."""
    if assignment_source not in AssignmentSource.values:
        raise ValueError(f"Unknown assignment source {assignment_source!r}.")
    with transaction.atomic():
        # of=("self",): lock the recipient only, not the audience and client rows joined in.
        recipient = (
            Recipient.objects.select_for_update(of=("self",))
            .select_related("audience__client")
            .get(pk=recipient.pk)
        )
        reward_id = ensure_reward(recipient=recipient, condition=condition).pk
        reward = RecipientGiftCard.objects.select_for_update().get(pk=reward_id)
        if reward.gift_card_id is not None:
            return GiftCard.objects.get(pk=reward.gift_card_id), None
        settling = card_id is not None and reward.status == RewardStatus.PURCHASE_PENDING
        if reward.status not in CLAIMABLE_REWARD_STATUSES and not settling:
            raise RewardNotClaimable(reward)

        client = recipient.audience.client
        pools = list(
            GiftCardPool.objects.filter(
                client=client,
                brand_id=reward.brand_id,
                card_value=reward.card_value,
                is_master_pool=False,
                is_active=True,
            ).order_by("created_at")
        )
        card = _lock_card([p.pk for p in pools], card_id) if pools else None
        if card is None:
            # Only stock is taken here; for api_only and fallback pools the caller
            # (claim_pending_rewards) buys from the provider (giftcards.purchase).
            raise NoCardAvailable(
                client=client,
                brand=reward.brand,
                card_value=reward.card_value,
                pool=pools[0] if pools else None,
            )
        pool = next(p for p in pools if p.pk == card.pool_id)
        now = timezone.now()
        value = reward.card_value

        card.status = GiftCardStatus.CLAIMED
        card.claimed_at = now
        card.claimed_by_recipient = recipient
        card.claimed_by_call_session = call_session
        card.assignment_source = assignment_source
        card.assignment_campaign_id = reward.campaign_id
        card.assignment_condition_id = reward.condition_id
        card.save(
            update_fields=[
                "status",
                "claimed_at",
                "claimed_by_recipient",
                "claimed_by_call_session",
                "assignment_source",
                "assignment_campaign",
                "assignment_condition",
                "updated_at",
            ]
        )

        method = CardDeliveryMethod.SMS if recipient.phone else CardDeliveryMethod.EMAIL
        address = recipient.phone if recipient.phone else recipient.email
        reward.gift_card = card
        reward.status = RewardStatus.CLAIMED
        reward.assigned_at = now
        reward.delivery_method = method
        reward.delivery_address = address
        reward.save(
            update_fields=[
                "gift_card",
                "status",
                "assigned_at",
                "delivery_method",
                "delivery_address",
                "updated_at",
            ]
        )
        recipient.gift_card_assigned = card
        recipient.save(update_fields=["gift_card_assigned", "updated_at"])

        delivery = GiftCardDelivery.objects.create(
            reward=reward,
            gift_card=card,
            recipient=recipient,
            campaign_id=reward.campaign_id,
            call_session=call_session,
            condition_number=condition.condition_number,
            delivery_method=method,
            delivery_address=address,
            status=DeliveryStatus.QUEUED,
            next_attempt_at=now,
        )
        GiftCardAuditLog.objects.create(
            client=client,
            action="card_claimed",
            entity_type="gift_card",
            entity_id=card.pk,
            changes={"status": [GiftCardStatus.AVAILABLE, GiftCardStatus.CLAIMED]},
            metadata={
                "reward": str(reward.pk),
                "recipient": str(recipient.pk),
                "pool": str(pool.pk),
                "delivery": str(delivery.pk),
                "assignment_source": assignment_source,
            },
        )
        RecipientAuditLog.objects.create(
            recipient=recipient,
            action=RecipientAuditAction.GIFT_CARD_ASSIGNED,
            call_session=call_session,
            metadata={
                "reward": str(reward.pk),
                "gift_card": str(card.pk),
                "condition_number": condition.condition_number,
                "card_value": str(value),
            },
        )
        record_event(
            EventType.CLAIMED,
            client=client,
            campaign=reward.campaign,
            recipient=recipient,
            source=EVENT_SOURCE_FOR_ASSIGNMENT[assignment_source],
            reward=str(reward.pk),
            gift_card=str(card.pk),
            condition_number=condition.condition_number,
            card_value=str(value),
        )

        # The hot rows, last (see the lock-order note above).
        GiftCardPool.objects.filter(pk=pool.pk).update(
            available_cards=F("available_cards") - 1, claimed_cards=F("claimed_cards") + 1
        )
        ledger_row = post_credit(
            credit_account_for(client),
            -value,
            transaction_type=TransactionType.PURCHASE,
            description=f"{reward.brand} ${value} gift card claimed",
            reference_type="reward",
            reference_id=reward.pk,
        )
        cost = (value * COST_BASIS).quantize(CENT)
        GiftCardSale.objects.create(
            client=client,
            pool=pool,
            reward=reward,
            quantity=1,
            price_per_card=value,
            total_amount=value,
            cost_per_card=cost,
            margin=value - cost,
            credit_transaction=ledger_row,
        )
    return card, delivery


def claim_card_atomic(
    *,
    recipient,
    condition,
    assignment_source: str = AssignmentSource.CALL_CENTER,
    call_session=None,
) -> GiftCard:
    """Assign one available card of the reward's brand and value from the client's pool to the
    recipient's reward for `condition` (the reward is created pending first if missing).

    One transaction changes everything or nothing: the card (claimed, who, when, why), the reward
    (claimed, its card), the recipient's latest card, the pool counters, one ledger debit of the
    card's face value from the client's credit account, a GiftCardSale, a GiftCardAuditLog, a
    RecipientAuditLog, a `claimed` Event and a queued GiftCardDelivery. It does not queue the
    delivery task; claim_pending_rewards does, and the delivery sweep finds the queued row anyway.

    Idempotent: a reward that already has a card returns that card and changes nothing. Concurrent
    claims of the same reward serialise on its row lock; concurrent claims of different rewards
    take different cards (SELECT … FOR UPDATE SKIP LOCKED).

    Raises, having changed nothing:
    - NoCardAvailable when no active pool of the client holds an available card, whatever the
      pool's purchase method: this function only takes stock. Nothing is written, not even a
      reward this call would have created. claim_pending_rewards then buys from the provider for
      `api_only` and `fallback` pools (giftcards.purchase) or marks the reward awaiting stock.
    - InsufficientCredit when the client's credit does not cover the card.
    - RewardNotClaimable when the reward is rejected, revoked or has a provider purchase pending.
    """
    card, _ = _claim(
        recipient=recipient,
        condition=condition,
        assignment_source=assignment_source,
        call_session=call_session,
    )
    return card
