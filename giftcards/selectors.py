"""Reads the dashboards share about stock, rewards, deliveries and credit.

Each takes a queryset already cut to the user's reach (the dashboards' `scope.filter(...)`), so
tenancy stays in one place, and loads what its page shows in a fixed number of queries whatever
the row count (select_related, aggregates over indexed columns; no query per row).
"""

from decimal import Decimal

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from mike.accounts.models import Membership, Organization, Role

from .models import (
    CreditAccount,
    CreditTransaction,
    GiftCard,
    GiftCardPool,
)
from .models.choices import DeliveryStatus

ZERO = Decimal("0.00")


def client_pools(pools):
    """The clients' own pools (never the platform's master pools), with brand and client."""
    return (
        pools.filter(is_master_pool=False)
        .select_related("brand", "client")
        .order_by("brand__brand_name", "card_value", "pool_name")
    )


def stock_summary(pools) -> dict:
    """Totals over `pools` in one query: pools, cards available, assigned (claimed, not yet
    delivered), delivered, and how many pools are at or below their low-stock mark."""
    return pools.filter(is_master_pool=False).aggregate(
        pools=Count("pk"),
        available=Coalesce(Sum("available_cards"), 0),
        assigned=Coalesce(Sum("claimed_cards"), 0),
        delivered=Coalesce(Sum("delivered_cards"), 0),
        low=Count("pk", filter=Q(is_active=True, available_cards__lte=F("low_stock_threshold"))),
    )


def pool_cards(pool: GiftCardPool):
    """A pool's cards, newest first, with who holds each and the reward it backs."""
    return (
        GiftCard.objects.filter(pool=pool)
        .select_related("claimed_by_recipient", "assignment_campaign", "reward")
        .order_by("-created_at")
    )


def reward_rows(rewards):
    return rewards.select_related("recipient", "campaign", "brand", "gift_card").order_by(
        "-created_at"
    )


def delivery_rows(deliveries):
    return deliveries.select_related(
        "recipient", "gift_card__brand", "reward__brand", "campaign"
    ).order_by("-created_at")


def failed_delivery_count(deliveries) -> int:
    return deliveries.filter(
        status__in=[DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED, DeliveryStatus.BOUNCED]
    ).count()


def agencies_for(user, clients) -> list[Organization]:
    """The agencies whose credit `user` may see beside `clients`: staff, those of the clients;
    anyone else, the agencies where they hold an agency role (and that own one of the clients)."""
    parent_ids = {c.parent_id for c in clients if c.parent_id}
    agencies = Organization.objects.filter(pk__in=parent_ids)
    if not (user.is_staff or user.is_superuser):
        agencies = agencies.filter(
            memberships__user=user,
            memberships__role__in=[Role.AGENCY_ADMIN, Role.AGENCY_USER],
        )
    return list(agencies.distinct().order_by("name"))


def agencies_user_funds_from(user, clients) -> list[Organization]:
    """The agencies `user` may move credit out of to their clients: staff, any of the clients'
    agencies; otherwise those where the user is an agency admin."""
    if user.is_staff or user.is_superuser:
        return agencies_for(user, clients)
    admin_of = Membership.objects.filter(user=user, role=Role.AGENCY_ADMIN).values(
        "organization_id"
    )
    parent_ids = {c.parent_id for c in clients if c.parent_id}
    return list(
        Organization.objects.filter(pk__in=parent_ids).filter(pk__in=admin_of).order_by("name")
    )


def accounts_by_organization(organizations) -> dict:
    """{organization id: CreditAccount} for those that have one, in one query."""
    return {
        account.organization_id: account
        for account in CreditAccount.objects.filter(organization__in=list(organizations))
    }


def ledger_rows(*, user, clients, agencies):
    """The ledger of the clients' accounts, plus the agencies' own when given, newest first. Each
    row carries its balance after (stored on the row, so no running sum is computed)."""
    rows = CreditTransaction.objects.for_user(user).filter(account__organization__in=clients)
    if agencies:
        rows = CreditTransaction.objects.filter(
            Q(pk__in=rows.values("pk")) | Q(account__organization__in=agencies)
        )
    return rows.select_related("account__organization", "created_by").order_by("-created_at")
