"""Pool inventory: adding cards (encrypted, deduplicated by keyed hash, counted, audited)."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F

from ..crypto import code_hash
from ..models import (
    CardSource,
    GiftCard,
    GiftCardAuditLog,
    GiftCardPool,
)


@dataclass(frozen=True)
class CardImportResult:
    added: int
    duplicates: list[str]
    invalid: list[str]


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
        card = GiftCard(
            pool=pool,
            brand_id=pool.brand_id,
            card_value=pool.card_value,
            source=source,
            uploaded_by=uploaded_by,
        )
        card.set_code(code)
        cards.append(card)

    existing = set(
        GiftCard.objects.filter(code_hash__in=[c.code_hash for c in cards]).values_list(
            "code_hash", flat=True
        )
    )
    if existing:
        duplicates += [c.code for c in cards if c.code_hash in existing]
        cards = [c for c in cards if c.code_hash not in existing]

    with transaction.atomic():
        try:
            GiftCard.objects.bulk_create(cards, batch_size=1000)
        except IntegrityError as exc:
            # Another upload added one of these codes between our check and the insert.
            raise ValueError("A code in this batch was added concurrently; upload again.") from exc
        GiftCardPool.objects.filter(pk=pool.pk).update(
            total_cards=F("total_cards") + len(cards),
            available_cards=F("available_cards") + len(cards),
        )
        GiftCardAuditLog.objects.create(
            client_id=pool.client_id,
            action="cards_added",
            entity_type="gift_card_pool",
            entity_id=pool.pk,
            user=uploaded_by,
            changes={"added": len(cards)},
            metadata={"duplicates": len(duplicates), "invalid": len(invalid), "source": source},
        )
    pool.refresh_from_db(fields=["total_cards", "available_cards"])
    return CardImportResult(added=len(cards), duplicates=duplicates, invalid=invalid)
