"""Buying a card from the provider when a pool that may (`api_only`, `fallback`) has none.

The reward's `provider_request_id` is the idempotency key, fixed before the provider is called
and kept for every later try, so a purchase whose answer was lost (timeout, 5xx) is settled by
asking again with the same key: the provider returns the card it already issued. Between the
call and the answer the reward is `purchase_pending`; the periodic sweep settles those.

The card the provider issues is added to the pool and claimed for this reward in one
transaction, so no other claim can take it; if that transaction fails (e.g. the client's credit
is short) the reward stays `purchase_pending` and the next settle adds the same card again.
"""

import logging

from django.db import transaction
from django.db.models import F

from campaigns.models import Event, EventType
from recipients.models import Recipient

from ..crypto import code_hash
from ..models import (
    AssignmentSource,
    CardSource,
    GiftCard,
    GiftCardAuditLog,
    GiftCardPool,
    RecipientGiftCard,
    RewardStatus,
)
from ..providers import ProviderRefused, ProviderUncertain, get_provider
from .claim import claim_reward_card
from .credit import InsufficientCredit
from .rewards import mark_awaiting_stock

logger = logging.getLogger(__name__)

PURCHASABLE = (RewardStatus.PENDING, RewardStatus.AWAITING_STOCK, RewardStatus.PURCHASE_PENDING)


def idempotency_key(reward: RecipientGiftCard) -> str:
    return f"mike-reward-{reward.pk}"


def purchase_for_reward(*, reward: RecipientGiftCard, pool: GiftCardPool, provider=None):
    """Buy (or settle) the card of `reward` from the provider into `pool` and claim it.

    Returns the queued GiftCardDelivery, or None when the purchase is still uncertain (left
    `purchase_pending`), was refused (reward back to awaiting stock), or the reward needs none.
    """
    with transaction.atomic():
        locked = (
            RecipientGiftCard.objects.select_for_update(of=("self",))
            .select_related("brand", "recipient", "condition")
            .get(pk=reward.pk)
        )
        if locked.gift_card_id is not None or locked.status not in PURCHASABLE:
            return None
        first_try = locked.status != RewardStatus.PURCHASE_PENDING
        locked.provider_request_id = locked.provider_request_id or idempotency_key(locked)
        locked.status = RewardStatus.PURCHASE_PENDING
        locked.purchase_attempts += 1
        locked.save(
            update_fields=["provider_request_id", "status", "purchase_attempts", "updated_at"]
        )
        if first_try:
            Event.objects.record(
                EventType.PURCHASE_PENDING, recipient=locked.recipient, campaign=locked.campaign
            )

    provider = provider or get_provider(pool.provider or "tillo")
    try:
        issued = provider.issue_card(
            brand=locked.brand.tillo_brand_code or locked.brand.brand_code,
            value=locked.card_value,
            currency=pool.currency,
            idempotency_key=locked.provider_request_id,
        )
    except ProviderUncertain as exc:
        logger.warning("Purchase for reward %s uncertain, settles later: %s", locked.pk, exc)
        return None
    except ProviderRefused as exc:
        RecipientGiftCard.objects.filter(pk=locked.pk).update(status=RewardStatus.PENDING)
        GiftCardAuditLog.objects.create(
            client_id=pool.client_id,
            action="purchase_refused",
            entity_type="recipient_gift_card",
            entity_id=locked.pk,
            metadata={"message": str(exc), "key": locked.provider_request_id},
        )
        mark_awaiting_stock(locked)
        return None

    try:
        with transaction.atomic():
            # Lock order as in the claim: recipient first, then (inside claim_reward_card) reward, card,
            # pool, credit. The pool counter update below comes after the recipient lock.
            Recipient.objects.select_for_update(of=("self",)).filter(pk=locked.recipient_id).get()
            card = GiftCard.objects.filter(code_hash=code_hash(issued.code)).first()
            if card is None:
                card = GiftCard(
                    pool=pool,
                    brand_id=pool.brand_id,
                    card_value=pool.card_value,
                    source=CardSource.PROVIDER,
                    provider_order_id=issued.order_id,
                )
                card.set_code(issued.code)
                card.set_pin(issued.pin)
                card.save()
                GiftCardPool.objects.filter(pk=pool.pk).update(
                    total_cards=F("total_cards") + 1, available_cards=F("available_cards") + 1
                )
                GiftCardAuditLog.objects.create(
                    client_id=pool.client_id,
                    action="card_purchased",
                    entity_type="gift_card",
                    entity_id=card.pk,
                    metadata={"order": issued.order_id, "key": locked.provider_request_id},
                )
            _, delivery = claim_reward_card(
                recipient=locked.recipient,
                condition=locked.condition,
                assignment_source=AssignmentSource.CALL_CENTER,
                call_session=None,
                card_id=card.pk,
            )
            return delivery
    except InsufficientCredit as exc:
        logger.warning("Purchased card for reward %s waits for credit: %s", locked.pk, exc)
        return None


def settle_pending_purchases(limit: int = 200) -> list:
    """Ask the provider again, with the same keys, about purchases whose answer was lost. Returns
    the deliveries of the rewards that got their card (the caller queues them)."""
    settled = []
    pending = RecipientGiftCard.objects.filter(
        status=RewardStatus.PURCHASE_PENDING, gift_card__isnull=True
    ).select_related("recipient__audience", "brand")[:limit]
    for reward in pending:
        pool = GiftCardPool.objects.for_reward(
            client_id=reward.recipient.audience.client_id,
            brand_id=reward.brand_id,
            card_value=reward.card_value,
        ).first()
        if pool is None:
            continue
        delivery = purchase_for_reward(reward=reward, pool=pool)
        if delivery is not None:
            settled.append(delivery)
    return settled
