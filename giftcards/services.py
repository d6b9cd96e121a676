"""Gift card services: the credit ledger and pool inventory.

Every function that changes a balance or a pool counter locks that row (`SELECT … FOR UPDATE`)
inside the caller's transaction and writes its ledger or audit row in the same transaction, so a
balance can always be recomputed from its ledger and a counter from its cards.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from mike.accounts.models import Organization, OrganizationKind

from .crypto import code_hash
from .models import (
    CardSource,
    CreditAccount,
    CreditEntityType,
    CreditTransaction,
    GiftCard,
    GiftCardAuditLog,
    GiftCardPool,
    TransactionType,
)

CENT = Decimal("0.01")


class InsufficientCredit(Exception):
    """A debit would take an account below zero; nothing was changed."""

    def __init__(self, account: CreditAccount, amount: Decimal):
        self.account = account
        self.amount = amount
        super().__init__(
            f"{account} holds ${account.balance}, less than the ${-amount} this needs."
        )


def _money(amount) -> Decimal:
    if isinstance(amount, float):
        raise TypeError("Money must be a Decimal or a string, never a float.")
    return Decimal(amount).quantize(CENT)


def credit_account_for(organization: Organization) -> CreditAccount:
    """The organization's credit account, made (empty) on first use."""
    entity_type = (
        CreditEntityType.AGENCY
        if organization.kind == OrganizationKind.AGENCY
        else CreditEntityType.CLIENT
    )
    account, _ = CreditAccount.objects.get_or_create(
        organization=organization, defaults={"entity_type": entity_type}
    )
    return account


@transaction.atomic
def post_credit(
    account: CreditAccount,
    amount,
    *,
    transaction_type: str,
    description: str = "",
    reference_type: str = "",
    reference_id=None,
    created_by=None,
    metadata: dict | None = None,
) -> CreditTransaction:
    """Add `amount` (negative for a debit) to the account and write its ledger row.

    The account row is the hot row: it is locked only for the read-modify-write of the balance and
    the insert of one ledger row, nothing slower, so concurrent posts queue briefly instead of
    deadlocking. A debit past zero raises InsufficientCredit and changes nothing.
    """
    amount = _money(amount)
    locked = CreditAccount.objects.select_for_update().get(pk=account.pk)
    before = locked.balance
    after = before + amount
    if after < 0:
        raise InsufficientCredit(locked, amount)
    CreditAccount.objects.filter(pk=locked.pk).update(balance=after)
    account.balance = after
    return CreditTransaction.objects.create(
        account=locked,
        transaction_type=transaction_type,
        amount=amount,
        balance_before=before,
        balance_after=after,
        description=description,
        reference_type=reference_type,
        reference_id=reference_id,
        created_by=created_by,
        metadata=metadata or {},
    )


def allocate_credit(
    organization: Organization, amount, *, created_by=None, description: str = ""
) -> CreditTransaction:
    """Credit an organization's account (platform staff topping up a client or agency)."""
    amount = _money(amount)
    if amount <= 0:
        raise ValueError("An allocation must be a positive amount.")
    return post_credit(
        credit_account_for(organization),
        amount,
        transaction_type=TransactionType.ALLOCATION,
        description=description or "Credit allocated",
        created_by=created_by,
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
