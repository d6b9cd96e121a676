"""Reads of the campaigns domain that the dashboards share: the funnel and the days of a date
range, and recent events.

Counts come from the daily rollup (DailyCount) for the days it covers and from the events'
indexes for the days after (campaigns.daily_counts explains why), so what a page costs depends
on the days it shows, not on how many events or recipients there are. Days are days of each
client's own calendar (its time zone).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import reduce
from operator import or_

from django.db.models import F, Q, Sum

from ..daily_counts import day_counts, midnight, zone
from ..models import (
    Campaign,
    CampaignStatus,
    DailyCount,
    DailyCountCoverage,
    Event,
    EventType,
)

MAILED = "mailed"

# The funnel, in order: (metric, label). "mailed" is the audience of the campaigns mailed in the
# range (nothing records an event per postcard); the others are the events of each step.
FUNNEL = (
    (MAILED, "Mailed"),
    (EventType.CALLED, "Called"),
    (EventType.MATCHED, "Matched"),
    (EventType.CONDITION_MET, "Condition met"),
    (EventType.APPROVED, "Approved"),
    (EventType.OPTED_IN, "Opted in"),
    (EventType.CLAIMED, "Rewarded"),
    (EventType.DELIVERED, "Delivered"),
    (EventType.REDEEMED, "Redeemed"),
)
COUNTED_EVENTS = tuple(str(metric) for metric, _ in FUNNEL if metric != MAILED)
# The event whose amount is money spent: a card claimed for a reward costs the client its value.
SPENT_ON = EventType.CLAIMED
MAILED_STATUSES = (CampaignStatus.MAILED, CampaignStatus.PAUSED, CampaignStatus.COMPLETED)


@dataclass
class Activity:
    """The counts of a date range (inclusive): totals per metric, money spent, and each day's."""

    start: date
    end: date
    totals: dict[str, int] = field(default_factory=dict)
    spent: Decimal = Decimal("0.00")
    days: dict[date, dict[str, int]] = field(default_factory=dict)

    def add(self, day: date, metric: str, count: int, amount=None) -> None:
        if not (self.start <= day <= self.end):
            return
        self.totals[metric] = self.totals.get(metric, 0) + count
        per_day = self.days.setdefault(day, {})
        per_day[metric] = per_day.get(metric, 0) + count
        if metric == SPENT_ON and amount:
            self.spent += amount

    def count(self, metric: str) -> int:
        return self.totals.get(str(metric), 0)

    @property
    def funnel(self) -> list[tuple[str, str, int]]:
        """[(metric, label, count)] in funnel order."""
        return [(str(metric), label, self.count(metric)) for metric, label in FUNNEL]

    def series(self, metric: str) -> list[tuple[date, int]]:
        """Every day of the range with its count of `metric` (0 for a quiet day)."""
        metric = str(metric)
        return [
            (day, self.days.get(day, {}).get(metric, 0))
            for day in (self.start + timedelta(days=n) for n in range(self.day_count))
        ]

    @property
    def day_count(self) -> int:
        return (self.end - self.start).days + 1


def activity(*, clients, start: date, end: date, campaign: Campaign | None = None) -> Activity:
    """The funnel counts, money spent and per-day counts of `clients` (Organizations the caller
    already scoped to the user: `scope.client_choices` or the selected client) from `start` to
    `end`, both days included; only `campaign`'s when given.

    A fixed number of queries whatever the rows: the coverage, the rollup, one count of the
    events after the coverage per time zone among the clients, and the mailings."""
    found = Activity(start=start, end=end)
    clients = list(clients)
    if campaign is not None:
        clients = [c for c in clients if c.pk == campaign.client_id]
    if not clients or start > end:
        return found
    ids = [c.pk for c in clients]

    through = dict(
        DailyCountCoverage.objects.filter(client_id__in=ids, through_day__isnull=False)
        .values_list("client_id", "through_day")
        .order_by()
    )
    if through:
        # Each client's rows up to its own coverage (a join on the coverage row).
        rolled = DailyCount.objects.filter(
            client_id__in=list(through), day__gte=start, day__lte=end
        ).filter(day__lte=F("client__daily_count_coverage__through_day"))
        if campaign is not None:
            rolled = rolled.filter(campaign=campaign)
        for day, metric, count, amount in (
            rolled.filter(metric__in=COUNTED_EVENTS)
            .values_list("day", "metric")
            .annotate(n=Sum("count"), total=Sum("amount"))
            .order_by()
        ):
            found.add(day, metric, count, amount)

    # The days after each client's coverage, from the events: clients that share a time zone
    # and a first uncovered day are counted by one branch of one query per time zone.
    tails = defaultdict(list)
    for client in clients:
        covered = through.get(client.pk)
        first = max(start, covered + timedelta(days=1)) if covered else start
        if first <= end:
            tails[(client.timezone, first)].append(client.pk)
    by_zone = defaultdict(list)
    for (tz_name, first), client_ids in tails.items():
        tz = zone(tz_name)
        by_zone[tz].append(
            Q(
                client_id__in=client_ids,
                occurred_at__gte=midnight(first, tz),
                occurred_at__lt=midnight(end + timedelta(days=1), tz),
            )
        )
    for tz, branches in by_zone.items():
        events = Event.objects.filter(reduce(or_, branches), event_type__in=COUNTED_EVENTS)
        if campaign is not None:
            events = events.filter(campaign=campaign)
        for _campaign_id, day, event_type, count, amount in day_counts(events, tz):
            found.add(day, event_type, count, amount)

    mailings = Campaign.objects.filter(
        client_id__in=ids,
        status__in=MAILED_STATUSES,
        mail_date__gte=start,
        mail_date__lte=end,
        audience__isnull=False,
    )
    if campaign is not None:
        mailings = mailings.filter(pk=campaign.pk)
    for mail_date, mailed in (
        mailings.values_list("mail_date").annotate(n=Sum("audience__total_count")).order_by()
    ):
        found.add(mail_date, MAILED, mailed or 0)
    return found


def recent_events(events, *, limit: int = 10) -> list[Event]:
    """The latest `limit` funnel events of `events` (a queryset the caller scoped), with what a
    sentence about each needs."""
    return list(
        events.filter(event_type__in=RECENT_EVENT_TYPES)
        .select_related("recipient", "campaign", "client")
        .order_by("-occurred_at")[:limit]
    )


RECENT_EVENT_TYPES = (
    *COUNTED_EVENTS,
    EventType.REJECTED,
    EventType.OPTED_OUT,
    EventType.DELIVERY_FAILED,
    EventType.CARD_REVOKED,
)
