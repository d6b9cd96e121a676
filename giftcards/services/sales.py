"""Selling cards from one of the platform's master pools to a client (SPEC §10, "Selling stock").

The client picks a master pool offered for sale and a quantity; the cards move into the client's
pool of the same brand and value (made when the client has none), and the price is debited from
the client's credit, all in one transaction with the GiftCardSale row and an audit row. Credit
that does not cover the price refuses the sale and nothing moves.

Lock order, as in the claim: the cards (SKIP LOCKED, so a sale never waits on a claim of the same
master pool), then the pool rows (short F() updates), then the credit account.
"""

from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from mike.accounts.models import Organization
from mike.core.errors import DomainError

from ..models import (
    CardSource,
    GiftCard,
    GiftCardAuditAction,
    GiftCardAuditLog,
    GiftCardPool,
    GiftCardSale,
    GiftCardStatus,
    PurchaseMethod,
    TransactionType,
)
from .claim_rows import COST_BASIS
from .credit import CENT, credit_account_for, post_credit

MAX_QUANTITY = 1000


class SaleRefused(DomainError):
    """The sale cannot be made as asked (the message says why); nothing changed."""


def sale_price(pool: GiftCardPool) -> Decimal:
    """What one card of a master pool costs a client: its sale price, else face value plus its
    markup, else face value."""
    if pool.sale_price_per_card is not None:
        return pool.sale_price_per_card
    if pool.markup_percentage:
        return (pool.card_value * (1 + pool.markup_percentage / 100)).quantize(CENT)
    return pool.card_value


def offers():
    """The master pools a client may buy from now, by brand and value."""
    return (
        GiftCardPool.objects.filter(
            is_master_pool=True, is_active=True, available_for_purchase=True
        )
        .select_related("brand")
        .order_by("brand__brand_name", "card_value")
    )


def sell_cards(
    *, source_pool: GiftCardPool, client: Organization, quantity: int, by=None
) -> GiftCardSale:
    """Move `quantity` available cards of the master pool `source_pool` into the client's pool
    of the same brand and value and debit their price from the client's credit.

    Raises SaleRefused (not offered, quantity out of range, too few cards in stock) or
    giftcards.services.InsufficientCredit (the credit does not cover the total); either way
    nothing is changed. Each call is a new sale: the caller guards against a double submit.
    """
    if not client.is_client:
        raise SaleRefused("Cards are sold to a client.")
    if not (source_pool.is_master_pool and source_pool.is_active):
        raise SaleRefused("These cards are not for sale.")
    if not source_pool.available_for_purchase:
        raise SaleRefused("These cards are not for sale.")
    minimum = max(1, source_pool.min_purchase_quantity)
    if quantity < minimum:
        raise SaleRefused(f"Buy at least {minimum} card{'s' if minimum > 1 else ''}.")
    if quantity > MAX_QUANTITY:
        raise SaleRefused(f"Buy at most {MAX_QUANTITY} cards at a time.")
    price = sale_price(source_pool)
    total = (price * quantity).quantize(CENT)
    cost = (
        source_pool.cost_per_card
        if source_pool.cost_per_card is not None
        else (source_pool.card_value * COST_BASIS).quantize(CENT)
    )
    with transaction.atomic():
        cards = GiftCard.objects.filter(pool=source_pool, status=GiftCardStatus.AVAILABLE)
        if connection.features.has_select_for_update_skip_locked:
            cards = cards.select_for_update(skip_locked=True)
        else:
            cards = cards.select_for_update()
        card_ids = list(cards.order_by("created_at").values_list("pk", flat=True)[:quantity])
        if len(card_ids) < quantity:
            raise SaleRefused(
                f"Only {len(card_ids)} {source_pool.brand} ${source_pool.card_value} cards are "
                f"in stock; buy {len(card_ids) or 'none'} or fewer."
            )
        target = _client_pool(source_pool, client)
        now = timezone.now()
        GiftCard.objects.filter(pk__in=card_ids).update(
            pool=target, source=CardSource.TRANSFER, updated_at=now
        )
        _count(source_pool.pk, -quantity)
        _count(target.pk, quantity)
        sale = GiftCardSale(
            client=client,
            pool=target,
            source_pool=source_pool,
            quantity=quantity,
            price_per_card=price,
            total_amount=total,
            cost_per_card=cost,
            margin=total - cost * quantity,
            sold_by=by,
        )
        ledger = post_credit(
            credit_account_for(client),
            -total,
            transaction_type=TransactionType.PURCHASE,
            description=f"{quantity} × {source_pool.brand} ${source_pool.card_value} gift cards",
            reference_type="gift_card_sale",
            reference_id=sale.pk,
            created_by=by,
        )
        sale.credit_transaction = ledger
        sale.save()
        GiftCardAuditLog.objects.create(
            client=client,
            action=GiftCardAuditAction.CARDS_SOLD,
            entity_type="gift_card_pool",
            entity_id=target.pk,
            user=by,
            changes={"added": quantity},
            metadata={
                "sale": str(sale.pk),
                "source_pool": str(source_pool.pk),
                "price_per_card": str(price),
                "total": str(total),
            },
        )
    return sale


def _client_pool(source_pool: GiftCardPool, client: Organization) -> GiftCardPool:
    """The client's pool the claim would take a card of this brand and value from (the oldest
    active one), made when the client has none."""
    found = GiftCardPool.objects.for_reward(
        client_id=client.pk, brand_id=source_pool.brand_id, card_value=source_pool.card_value
    ).first()
    if found is not None:
        return found
    return GiftCardPool.objects.create(
        pool_name=f"{client.name} {source_pool.brand.brand_name} ${source_pool.card_value:.0f}",
        brand_id=source_pool.brand_id,
        card_value=source_pool.card_value,
        currency=source_pool.currency,
        client=client,
        purchase_method=PurchaseMethod.CSV_ONLY,
    )


def _count(pool_id, change: int) -> None:
    GiftCardPool.objects.filter(pk=pool_id).update(
        total_cards=F("total_cards") + change, available_cards=F("available_cards") + change
    )
