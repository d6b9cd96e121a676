"""Pool inventory: adding cards (encrypted, deduplicated by keyed hash, counted, audited).

A batch import (`add_cards_to_pool`) and a single card typed in by staff (`add_card_to_pool`) take
the same path, `_store_cards`, so the pool counters always move with the cards.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.db.models import F

from mike.core.errors import DomainError

from ..crypto import code_hash
from ..models import (
    CardSource,
    GiftCard,
    GiftCardAuditAction,
    GiftCardAuditLog,
    GiftCardPool,
    GiftCardStatus,
)


class DuplicateCardCode(DomainError, ValueError):
    """A card with this code is already stored (in any pool: codes are unique everywhere)."""


@dataclass(frozen=True)
class CardImportResult:
    added: int
    duplicates: list[str]
    invalid: list[str]


def _new_card(pool: GiftCardPool, code: str, *, uploaded_by, source: str) -> GiftCard:
    """An unsaved card of the pool's brand and value, its code set (encrypted and hashed)."""
    card = GiftCard(
        pool=pool,
        brand_id=pool.brand_id,
        card_value=pool.card_value,
        source=source,
        uploaded_by=uploaded_by,
    )
    card.set_code(code)
    return card


def _store_cards(
    pool: GiftCardPool,
    cards: list[GiftCard],
    *,
    uploaded_by,
    source: str,
    duplicates: list[str],
    invalid: list[str],
    refuse_duplicates: bool = False,
    audit: dict | None = None,
) -> list[GiftCard]:
    """Insert the cards whose codes are not stored yet, add them to the pool counters and write
    the `cards_added` audit row, all in one transaction; return the cards inserted.

    Codes already stored are appended to `duplicates` and skipped or, with `refuse_duplicates`,
    raise DuplicateCardCode before anything is written. A code another transaction stores between
    the check and the insert raises DuplicateCardCode too (the unique keyed hash refuses it), and
    nothing of this call is kept.
    """
    existing = set(
        GiftCard.objects.filter(code_hash__in=[c.code_hash for c in cards]).values_list(
            "code_hash", flat=True
        )
    )
    if existing:
        if refuse_duplicates:
            raise DuplicateCardCode("A card with this code is already stored.")
        duplicates += [c.code for c in cards if c.code_hash in existing]
        cards = [c for c in cards if c.code_hash not in existing]

    with transaction.atomic():
        try:
            GiftCard.objects.bulk_create(cards, batch_size=1000)
        except IntegrityError as exc:
            raise DuplicateCardCode(
                "A card with this code is already stored."
                if refuse_duplicates
                else "A code in this batch was added concurrently; upload again."
            ) from exc
        GiftCardPool.objects.filter(pk=pool.pk).update(
            total_cards=F("total_cards") + len(cards),
            available_cards=F("available_cards") + len(cards),
        )
        GiftCardAuditLog.objects.create(
            client_id=pool.client_id,
            action=GiftCardAuditAction.CARDS_ADDED,
            entity_type="gift_card_pool",
            entity_id=pool.pk,
            user=uploaded_by,
            changes={"added": len(cards)},
            metadata={
                "duplicates": len(duplicates),
                "invalid": len(invalid),
                "source": source,
                **(audit or {}),
            },
        )
    pool.refresh_from_db(fields=["total_cards", "available_cards"])
    return cards


def add_cards_to_pool(
    pool: GiftCardPool,
    codes: Iterable[str],
    *,
    uploaded_by=None,
    source: str = CardSource.CSV,
) -> CardImportResult:
    """Add cards with the given codes to the pool: stored encrypted, counted, audited.

    A code already in any pool (same keyed hash), repeated in the batch, or blank is reported and
    skipped; the rest are added in one transaction together with the counter update.
    """
    seen: set[str] = set()
    cards: list[GiftCard] = []
    duplicates: list[str] = []
    invalid: list[str] = []
    for raw in codes:
        code = (raw or "").strip()
        if not code:
            invalid.append(raw or "")
            continue
        digest = code_hash(code)
        if digest in seen:
            duplicates.append(code)
            continue
        seen.add(digest)
        cards.append(_new_card(pool, code, uploaded_by=uploaded_by, source=source))

    added = _store_cards(
        pool, cards, uploaded_by=uploaded_by, source=source, duplicates=duplicates, invalid=invalid
    )
    return CardImportResult(added=len(added), duplicates=duplicates, invalid=invalid)


def add_card_to_pool(
    *,
    pool: GiftCardPool,
    code: str,
    pin: str = "",
    card_number: str = "",
    expiration_date: date | None = None,
    provider_order_id: str = "",
    source: str = CardSource.CSV,
    added_by=None,
    audit: dict | None = None,
) -> GiftCard:
    """Add one card to the pool (staff typing it in, or a card bought from the provider: `audit`
    is added to the audit row's metadata): the same path as a batch import, so the
    card takes the pool's brand and value, its code, PIN and card number are stored encrypted,
    the pool counts it (total and available) and a `cards_added` audit row names who added it.

    Raises DuplicateCardCode when a card with this code (compared as normalised: case, spaces and
    dashes ignored) is already stored in any pool, and ValueError for an empty code; either way
    nothing is written.
    """
    card = _new_card(pool, code, uploaded_by=added_by, source=source)
    card.set_pin(pin)
    card.set_card_number(card_number)
    card.expiration_date = expiration_date
    card.provider_order_id = provider_order_id or ""
    [added] = _store_cards(
        pool,
        [card],
        uploaded_by=added_by,
        source=source,
        duplicates=[],
        invalid=[],
        refuse_duplicates=True,
        audit={"card": str(card.pk), **(audit or {})},
    )
    return added


# The pool counter of each card status a card can move between (total_cards counts them all).
_COUNTER = {
    GiftCardStatus.AVAILABLE: "available_cards",
    GiftCardStatus.CLAIMED: "claimed_cards",
    GiftCardStatus.DELIVERED: "delivered_cards",
    GiftCardStatus.FAILED: "failed_cards",
}


def move_pool_counters(pool_id, *, from_status: str, to_status: str, count: int = 1) -> None:
    """Move `count` cards of the pool from one status's counter to another's, in the caller's
    transaction (a revoked or expired card leaves the counters: only `total_cards` keeps it). The
    pool row is hot (every claim of the pool updates it): one short F() update, which the caller
    makes last in its transaction."""
    changes = {}
    if from_status in _COUNTER:
        changes[_COUNTER[from_status]] = F(_COUNTER[from_status]) - count
    if to_status in _COUNTER:
        changes[_COUNTER[to_status]] = F(_COUNTER[to_status]) + count
    if changes:
        GiftCardPool.objects.filter(pk=pool_id).update(**changes)


class CardNotRemovable(DomainError, ValueError):
    """Only an available card (never given to anyone) can be taken out of its pool."""


def remove_card_from_pool(*, card: GiftCard, removed_by=None, reason: str = "") -> None:
    """Delete an available card and take it off its pool's counters, with a `card_removed` audit
    row, in one transaction. A card that was claimed, delivered or revoked is part of a reward's
    history and raises CardNotRemovable (revoke it instead); nothing changes then.

    Locks the card, then the pool row (the claim's order: card before pool), so a concurrent claim
    either takes the card first (and this refuses) or finds it gone."""
    with transaction.atomic():
        locked = GiftCard.objects.select_for_update().filter(pk=card.pk).first()
        if locked is None:
            return  # already removed: nothing left to do
        if locked.status != GiftCardStatus.AVAILABLE:
            raise CardNotRemovable(
                f"Card {locked.masked_code} is {locked.get_status_display().lower()}; only "
                "available cards can be removed from a pool."
            )
        pool_id, masked = locked.pool_id, locked.masked_code
        locked.delete()
        GiftCardPool.objects.filter(pk=pool_id).update(
            total_cards=F("total_cards") - 1, available_cards=F("available_cards") - 1
        )
        GiftCardAuditLog.objects.create(
            client_id=GiftCardPool.objects.values_list("client_id", flat=True).get(pk=pool_id),
            action=GiftCardAuditAction.CARD_REMOVED,
            entity_type="gift_card",
            entity_id=card.pk,
            user=removed_by,
            changes={"status": [GiftCardStatus.AVAILABLE, None]},
            metadata={"pool": str(pool_id), "code": masked, "reason": reason},
        )
