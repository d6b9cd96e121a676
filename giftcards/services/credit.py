"""The credit ledger: every balance change is a locked read-modify-write plus one ledger row."""

from decimal import Decimal

from django.db import transaction

from mike.accounts.models import Organization, OrganizationKind
from mike.core.errors import DomainError

from ..models import (
    CreditAccount,
    CreditEntityType,
    CreditTransaction,
    GiftCardAuditAction,
    GiftCardAuditLog,
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
    from_account: CreditAccount | None = None,
    to_account: CreditAccount | None = None,
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
        from_account=from_account,
        to_account=to_account,
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


class CreditTransferRefused(DomainError):
    """Credit cannot move as asked (the message says why); nothing changed."""


class LowBalanceThresholdRefused(DomainError, ValueError):
    """A threshold that cannot be set (negative); nothing changed."""


def transfer_credit(
    *, agency: Organization, client: Organization, amount, by=None, description: str = ""
) -> tuple[CreditTransaction, CreditTransaction]:
    """Move `amount` from the agency's credit to one of its clients': a `transfer_out` row on the
    agency's ledger and a `transfer_in` row on the client's, each naming both accounts, in one
    transaction. Returns (out, in).

    Raises CreditTransferRefused for an amount that is not positive or a client of another
    agency, and InsufficientCredit when the agency's balance does not cover it; nothing changes
    then. Both accounts are locked in a fixed order (by id) before either is posted to, so two
    transfers between the same accounts, either way round, queue instead of deadlocking.
    """
    amount = _money(amount)
    if amount <= 0:
        raise CreditTransferRefused("Enter an amount above $0.00.")
    if agency.kind != OrganizationKind.AGENCY or not client.is_client:
        raise CreditTransferRefused("Credit moves from an agency to one of its clients.")
    if client.parent_id != agency.pk:
        raise CreditTransferRefused(f"{client} is not a client of {agency}.")
    source, target = credit_account_for(agency), credit_account_for(client)
    with transaction.atomic():
        list(
            CreditAccount.objects.select_for_update()
            .filter(pk__in=[source.pk, target.pk])
            .order_by("pk")
        )
        text = description or f"Credit moved from {agency} to {client}"
        out = post_credit(
            source,
            -amount,
            transaction_type=TransactionType.TRANSFER_OUT,
            description=text,
            reference_type="credit_transfer",
            created_by=by,
            from_account=source,
            to_account=target,
        )
        into = post_credit(
            target,
            amount,
            transaction_type=TransactionType.TRANSFER_IN,
            description=text,
            reference_type="credit_transfer",
            reference_id=out.pk,
            created_by=by,
            from_account=source,
            to_account=target,
        )
    return out, into


def set_low_balance_threshold(*, account: CreditAccount, threshold, by=None) -> CreditAccount:
    """Alert when the account's balance is at or below `threshold` ($0.00 turns the alert off),
    with a `low_balance_threshold_set` audit row. Raises LowBalanceThresholdRefused for a
    negative threshold. Idempotent: setting the threshold it already has writes nothing."""
    threshold = _money(threshold)
    if threshold < 0:
        raise LowBalanceThresholdRefused("The threshold cannot be negative.")
    with transaction.atomic():
        locked = CreditAccount.objects.select_for_update().get(pk=account.pk)
        if locked.low_balance_threshold != threshold:
            before = locked.low_balance_threshold
            CreditAccount.objects.filter(pk=locked.pk).update(low_balance_threshold=threshold)
            GiftCardAuditLog.objects.create(
                client_id=locked.organization_id
                if locked.entity_type == CreditEntityType.CLIENT
                else None,
                action=GiftCardAuditAction.LOW_BALANCE_THRESHOLD_SET,
                entity_type="credit_account",
                entity_id=locked.pk,
                user=by,
                changes={"low_balance_threshold": [str(before), str(threshold)]},
            )
    account.low_balance_threshold = threshold
    return account
