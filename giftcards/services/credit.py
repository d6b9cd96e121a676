"""The credit ledger: every balance change is a locked read-modify-write plus one ledger row."""

from decimal import Decimal

from django.db import transaction

from mike.accounts.models import Organization, OrganizationKind
from mike.core.errors import DomainError

from ..models import (
    CreditAccount,
    CreditEntityType,
    CreditTransaction,
    TransactionType,
)

CENT = Decimal("0.01")


class InsufficientCredit(DomainError):
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
