"""Reads of campaigns the dashboards share: the list's figures per campaign, and the compact
summaries of a campaign's recipients, calls, rewards and approvals.

Every figure of the list is a correlated subquery on an indexed foreign key (calls by campaign,
conditions met by campaign, rewards by (campaign, status)), so a page of campaigns costs one
query however many rows it shows, and sorting by a figure is done by the database.
"""

from decimal import Decimal

from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Cast, Coalesce, NullIf

from calls.models import CallConditionMet, CallSession, CallStatus
from giftcards.models import RecipientGiftCard, RewardStatus
from recipients.models import ApprovalStatus, Recipient

# The card value that has left the client's hands: cards claimed for a reward or delivered.
SPENT_REWARD_STATUSES = (RewardStatus.CLAIMED, RewardStatus.DELIVERED)
LATEST = 10


def _count(queryset, field: str = "pk", *, distinct: bool = False):
    """COUNT over `queryset` (already filtered by OuterRef("pk")) as a subquery, 0 when empty."""
    return Coalesce(
        Subquery(
            queryset.order_by()
            .values("campaign_id")
            .annotate(n=Count(field, distinct=distinct))
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def with_figures(queryset):
    """`queryset` of campaigns with the list's figures: audience_size, calls_count, responders
    (distinct recipients who called), conditions_met_count, rewards_delivered, spend (Decimal)
    and response_rate (responders per 100 mailed, None without an audience)."""
    calls = CallSession.objects.filter(campaign_id=OuterRef("pk"))
    rewards = RecipientGiftCard.objects.filter(campaign_id=OuterRef("pk"))
    spend = (
        rewards.filter(status__in=SPENT_REWARD_STATUSES)
        .order_by()
        .values("campaign_id")
        .annotate(total=Sum("card_value"))
        .values("total")[:1]
    )
    return (
        queryset.select_related("client", "audience")
        .annotate(
            audience_size=Coalesce(F("audience__total_count"), Value(0)),
            calls_count=_count(calls),
            responders=_count(calls.filter(recipient__isnull=False), "recipient", distinct=True),
            conditions_met_count=_count(
                CallConditionMet.objects.filter(campaign_id=OuterRef("pk"))
            ),
            rewards_delivered=_count(rewards.filter(status=RewardStatus.DELIVERED)),
            spend=Coalesce(
                Subquery(spend, output_field=DecimalField(max_digits=14, decimal_places=2)),
                Value(Decimal("0.00")),
                output_field=DecimalField(max_digits=14, decimal_places=2),
            ),
        )
        .annotate(
            response_rate=Cast(F("responders"), FloatField())
            * Value(100.0)
            / NullIf(Cast(F("audience_size"), FloatField()), Value(0.0)),
        )
    )


def _by_status(queryset, field: str, choices) -> list[tuple[str, str, int]]:
    """(value, label, count) for every status of `choices`, in their order, zeros included."""
    counts = dict(queryset.order_by().values_list(field).annotate(n=Count("pk")))
    return [(value, label, counts.get(value, 0)) for value, label in choices.choices]


def recipient_summary(campaign) -> dict:
    recipients = Recipient.objects.filter(campaign=campaign)
    return {
        "counts": _by_status(recipients, "approval_status", ApprovalStatus),
        "latest": list(recipients.order_by("-created_at")[:LATEST]),
    }


def call_summary(campaign) -> dict:
    calls = CallSession.objects.filter(campaign=campaign)
    return {
        "counts": [row for row in _by_status(calls, "call_status", CallStatus) if row[2]],
        "latest": list(calls.select_related("recipient").order_by("-created_at")[:LATEST]),
    }


def reward_summary(campaign) -> dict:
    rewards = RecipientGiftCard.objects.filter(campaign=campaign)
    return {
        "counts": [row for row in _by_status(rewards, "status", RewardStatus) if row[2]],
        "latest": list(
            rewards.select_related("recipient", "brand", "condition").order_by("-created_at")[
                :LATEST
            ]
        ),
    }


def waiting_for_approval(campaign) -> int:
    """Recipients of the campaign who met a condition and wait for someone to approve them."""
    return (
        Recipient.objects.filter(campaign=campaign, approval_status=ApprovalStatus.PENDING)
        .filter(Exists(RecipientGiftCard.objects.filter(recipient_id=OuterRef("pk"))))
        .count()
    )


def approval_summary(campaign) -> dict:
    recipients = Recipient.objects.filter(campaign=campaign)
    counts = recipients.aggregate(
        approved=Count("pk", filter=Q(approval_status=ApprovalStatus.APPROVED)),
        rejected=Count("pk", filter=Q(approval_status=ApprovalStatus.REJECTED)),
    )
    return {"waiting": waiting_for_approval(campaign), **counts}
