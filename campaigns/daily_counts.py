"""The daily rollup of the event stream (DailyCount), which the dashboards read instead of
counting events.

Why not an increment in `Event.objects.record`: it would lock one counter row per campaign, day
and event type from the event's insert to COMMIT in every transaction that records one (a call,
a claim, an approval), a new hot row in the middle of the claim's lock order (the credit top-up
holds the credit row and then claims, while a claim holds its counter row and waits for the
credit row: a deadlock), and it would count only the events written through `record` (the claim
writes its event in its own SQL statement). Instead, whole days that are over are rolled up in
one pass, and readers (campaigns.selectors) count the days after the coverage from the events
themselves, through the (client, occurred_at) and (campaign, event_type, occurred_at) indexes.
The numbers are right whether or not the rollup ran; it only decides how many events a page
counts (those since the last day rolled up: today's, when the task runs hourly).

A day is rolled up once it ended GRACE ago in the client's time zone, so an event written by a
transaction still open at midnight is not missed. Events are append-only and written at the
time they happen; whatever writes events dated in the past (an import, the demo's history)
rebuilds the rollup of its clients (`manage.py rebuild_daily_counts`).
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.db.models import Count, DecimalField, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone

from mike.accounts.models import Organization

from .models import DailyCount, DailyCountCoverage, Event

GRACE = timedelta(hours=1)

# The value of the card an event is about (claims store it in event_data), as money.
CARD_VALUE = Cast(KT("event_data__card_value"), DecimalField(max_digits=14, decimal_places=2))


def zone(name: str) -> ZoneInfo:
    """The client's time zone; a name the database does not know falls back to the site's."""
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def midnight(day: date, tz: ZoneInfo) -> datetime:
    """The moment `day` begins in `tz`."""
    return datetime.combine(day, time.min, tzinfo=tz)


def last_closed_day(tz: ZoneInfo, now: datetime | None = None) -> date:
    """The last day (in `tz`) that ended at least GRACE ago."""
    return ((now or timezone.now()) - GRACE).astimezone(tz).date() - timedelta(days=1)


def day_counts(events, tz: ZoneInfo):
    """`events` grouped by campaign, day (in `tz`) and type: rows of (campaign_id, day,
    event_type, count, amount). Test data (the events of test recipients, made with a test API
    key) is left out: the funnel and the money spent are the live campaign's."""
    return (
        events.filter(Q(recipient__isnull=True) | Q(recipient__is_test=False))
        .annotate(day=TruncDate("occurred_at", tzinfo=tz))
        .values_list("campaign_id", "day", "event_type")
        .annotate(n=Count("id"), amount=Coalesce(Sum(CARD_VALUE), Decimal("0")))
        .order_by()
    )


def roll_up_daily_counts(*, now: datetime | None = None, client_ids=None) -> int:
    """Roll up every client's days that are over and not rolled up yet; returns the number of
    DailyCount rows written. Idempotent: a day is rolled up once (the coverage row is locked
    while its days are written, so two runs at once write each day once)."""
    written = 0
    for client_id, tz_name in _clients(client_ids):
        written += _roll_up_client(client_id, zone(tz_name), now=now, rebuild=False)
    return written


def rebuild_daily_counts(*, now: datetime | None = None, client_ids=None) -> int:
    """Drop and recount the clients' rollup from their events (after events were written for
    days already rolled up); returns the number of rows written."""
    written = 0
    for client_id, tz_name in _clients(client_ids):
        written += _roll_up_client(client_id, zone(tz_name), now=now, rebuild=True)
    return written


def _clients(client_ids):
    clients = Organization.objects.clients()
    if client_ids is not None:
        clients = clients.filter(pk__in=client_ids)
    return clients.order_by("pk").values_list("pk", "timezone")


def _roll_up_client(client_id, tz: ZoneInfo, *, now, rebuild: bool) -> int:
    through = last_closed_day(tz, now)
    DailyCountCoverage.objects.get_or_create(client_id=client_id)
    with transaction.atomic():
        coverage = DailyCountCoverage.objects.select_for_update().get(client_id=client_id)
        if rebuild:
            DailyCount.objects.filter(client_id=client_id).delete()
            coverage.through_day = None
        start = coverage.through_day + timedelta(days=1) if coverage.through_day else None
        if start is not None and start > through:
            return 0
        events = Event.objects.filter(
            client_id=client_id, occurred_at__lt=midnight(through + timedelta(days=1), tz)
        )
        if start is not None:
            events = events.filter(occurred_at__gte=midnight(start, tz))
        rows = [
            DailyCount(
                client_id=client_id,
                campaign_id=campaign_id,
                day=day,
                metric=event_type,
                count=n,
                amount=amount,
            )
            for campaign_id, day, event_type, n, amount in day_counts(events, tz).iterator()
        ]
        DailyCount.objects.bulk_create(rows, batch_size=2000)
        coverage.through_day = through
        coverage.save(update_fields=["through_day", "updated_at"])
    return len(rows)
