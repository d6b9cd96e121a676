"""The alert thresholds a client sets for itself: when its pools count as low on stock, and when
its credit counts as low. The pools' is one UPDATE of the column alone: pools are hot rows (the
claim writes their counters), and a threshold never depends on their values. The credit's is
checked here and written by the ledger's own audited service (credit.set_low_balance_threshold)."""

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Count, Max, Min

from mike.accounts.models import Organization
from mike.core.errors import DomainError

from ..models import CreditAccount, GiftCardPool
from . import credit as ledger
from .credit import CENT, credit_account_for

MAX_LOW_STOCK_THRESHOLD = 100_000
MAX_LOW_BALANCE_THRESHOLD = Decimal("10000000.00")


class ThresholdInvalid(DomainError, ValueError):
    """A threshold that is not a number, or out of range; nothing was changed."""


@transaction.atomic
def set_low_stock_threshold(*, client: Organization, threshold: int) -> int:
    """Set the low-stock threshold of every pool of `client` (its master pools are the
    platform's, and have no client). A pool is low when its available cards are at or below it.
    Returns the number of pools changed; idempotent. Raises ThresholdInvalid."""
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise ThresholdInvalid("The low-stock threshold is a whole number of cards.")
    if not 0 <= threshold <= MAX_LOW_STOCK_THRESHOLD:
        raise ThresholdInvalid(
            f"The low-stock threshold is between 0 and {MAX_LOW_STOCK_THRESHOLD:,} cards."
        )
    return (
        GiftCardPool.objects.filter(client=client, is_master_pool=False)
        .exclude(low_stock_threshold=threshold)
        .update(low_stock_threshold=threshold)
    )


@transaction.atomic
def set_low_balance_threshold(*, organization: Organization, threshold, by=None) -> CreditAccount:
    """Set the balance at or below which the organization's credit counts as low ($0.00: no
    alert), with the ledger's audit row. Makes the credit account (empty) on first use.
    Idempotent. Raises ThresholdInvalid."""
    if isinstance(threshold, float):
        raise ThresholdInvalid("Money must be a Decimal or a string, never a float.")
    try:
        amount = Decimal(threshold).quantize(CENT)
    except (InvalidOperation, TypeError, ValueError):
        raise ThresholdInvalid("The low-balance threshold is an amount in dollars.") from None
    if not Decimal("0") <= amount <= MAX_LOW_BALANCE_THRESHOLD:
        raise ThresholdInvalid(
            f"The low-balance threshold is between $0.00 and ${MAX_LOW_BALANCE_THRESHOLD:,}."
        )
    return ledger.set_low_balance_threshold(
        account=credit_account_for(organization), threshold=amount, by=by
    )


def thresholds_of(client: Organization) -> dict:
    """The client's current thresholds for its settings form: the pools' low-stock threshold
    (None when it has no pools; the lowest and highest when they differ) and the low-balance
    threshold ($0.00 when it has no account yet)."""
    pools = GiftCardPool.objects.filter(client=client, is_master_pool=False).aggregate(
        pools=Count("pk"), low=Min("low_stock_threshold"), high=Max("low_stock_threshold")
    )
    account = (
        CreditAccount.objects.filter(organization=client).only("low_balance_threshold").first()
    )
    return {
        "pools": pools["pools"],
        "low_stock_min": pools["low"],
        "low_stock_max": pools["high"],
        "low_balance": account.low_balance_threshold if account else Decimal("0.00"),
    }
