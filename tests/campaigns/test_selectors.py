"""campaigns.selectors.activity and the daily rollup it reads (campaigns.daily_counts): the same
numbers whether days are rolled up or counted from the events, days in the client's time zone,
and a rollup equal to a recount after the reward pipeline's own writes."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count
from django.utils import timezone

from calls.services import handle_incoming_call
from campaigns import selectors
from campaigns.daily_counts import (
    last_closed_day,
    rebuild_daily_counts,
    roll_up_daily_counts,
    zone,
)
from campaigns.models import DailyCount, DailyCountCoverage, Event, EventType, TriggerType
from giftcards.services import add_cards_to_pool, allocate_credit
from mike.rewards import approval, conditions, inbound
from tests import factories

pytestmark = pytest.mark.django_db


def local(client, days_ago, hour=12, minute=0):
    today = timezone.now().astimezone(zone(client.timezone)).date()
    return datetime.combine(
        today - timedelta(days=days_ago), time(hour, minute), tzinfo=zone(client.timezone)
    )


def add(campaign, event_type, when, **data):
    return factories.EventFactory(
        campaign=campaign, event_type=event_type, occurred_at=when, event_data=data
    )


def today_of(client):
    return timezone.now().astimezone(zone(client.timezone)).date()


def test_rolled_up_or_not_the_numbers_are_the_same():
    campaign = factories.CampaignFactory()
    client = campaign.client
    for days_ago in (0, 1, 2, 5, 9, 40):
        add(campaign, EventType.CALLED, local(client, days_ago))
        add(campaign, EventType.CLAIMED, local(client, days_ago), card_value="25.00")
    today = today_of(client)
    ranges = [(today - timedelta(days=n), today) for n in (0, 6, 29, 89)]
    ranges.append((today - timedelta(days=9), today - timedelta(days=2)))

    def read():
        return [
            (a.totals, a.spent, a.days)
            for a in (selectors.activity(clients=[client], start=s, end=e) for s, e in ranges)
        ]

    live = read()
    assert live[2][0] == {"called": 5, "claimed": 5} and live[2][1] == Decimal("125.00")
    roll_up_daily_counts()
    assert DailyCountCoverage.objects.get(client=client).through_day == last_closed_day(
        zone(client.timezone)
    )
    assert read() == live
    # A second run finds nothing left to roll up; a rebuild writes the same rows again.
    assert roll_up_daily_counts() == 0
    rows = sorted(DailyCount.objects.values_list("day", "metric", "count"))
    rebuild_daily_counts()
    assert sorted(DailyCount.objects.values_list("day", "metric", "count")) == rows
    assert read() == live


def test_days_are_the_clients_own():
    """An event at 23:30 in the client's zone counts on that day, whatever the server's zone."""
    client = factories.ClientFactory(timezone="America/Los_Angeles")
    campaign = factories.CampaignFactory(client=client)
    late = local(client, 3, hour=23, minute=30)
    add(campaign, EventType.CALLED, late)
    day = late.date()
    for roll in (False, True):
        if roll:
            roll_up_daily_counts()
        found = selectors.activity(clients=[client], start=day, end=day)
        assert found.count(EventType.CALLED) == 1, roll
        after = selectors.activity(
            clients=[client], start=day + timedelta(days=1), end=day + timedelta(days=1)
        )
        assert after.count(EventType.CALLED) == 0, roll


def test_a_campaign_counts_its_own_events_only():
    campaign = factories.CampaignFactory()
    other = factories.CampaignFactory(client=campaign.client)
    add(campaign, EventType.CALLED, local(campaign.client, 2))
    add(other, EventType.CALLED, local(campaign.client, 2))
    add(other, EventType.CALLED, local(campaign.client, 0))
    today = today_of(campaign.client)
    for roll in (False, True):
        if roll:
            roll_up_daily_counts()
        found = selectors.activity(
            clients=[campaign.client], start=today - timedelta(days=6), end=today, campaign=campaign
        )
        assert found.count(EventType.CALLED) == 1
        everything = selectors.activity(
            clients=[campaign.client], start=today - timedelta(days=6), end=today
        )
        assert everything.count(EventType.CALLED) == 3


def test_a_campaign_of_a_client_not_given_counts_nothing():
    campaign = factories.CampaignFactory()
    add(campaign, EventType.CALLED, local(campaign.client, 0))
    today = today_of(campaign.client)
    found = selectors.activity(
        clients=[factories.ClientFactory()], start=today, end=today, campaign=campaign
    )
    assert found.totals == {}


def test_mailed_is_the_audience_of_the_campaigns_mailed_in_the_range():
    client = factories.ClientFactory()
    today = today_of(client)
    audience = factories.AudienceFactory(client=client, total_count=1200)
    factories.CampaignFactory(
        client=client, audience=audience, status="mailed", mail_date=today - timedelta(days=3)
    )
    factories.CampaignFactory(
        client=client, audience=audience, status="draft", mail_date=today - timedelta(days=3)
    )
    factories.CampaignFactory(
        client=client, audience=audience, status="completed", mail_date=today - timedelta(days=50)
    )
    week = selectors.activity(clients=[client], start=today - timedelta(days=6), end=today)
    assert week.count("mailed") == 1200
    quarter = selectors.activity(clients=[client], start=today - timedelta(days=89), end=today)
    assert quarter.count("mailed") == 2400


def test_the_series_has_every_day_of_the_range():
    campaign = factories.CampaignFactory()
    add(campaign, EventType.CALLED, local(campaign.client, 2))
    today = today_of(campaign.client)
    found = selectors.activity(
        clients=[campaign.client], start=today - timedelta(days=6), end=today
    )
    series = found.series(EventType.CALLED)
    assert [day for day, _ in series] == [today - timedelta(days=n) for n in range(6, -1, -1)]
    assert [n for _, n in series] == [0, 0, 0, 0, 1, 0, 0]


def test_the_rollup_equals_a_recount_after_the_pipeline_writes(
    sms_outbox, django_capture_on_commit_callbacks
):
    """A call, its condition, the approval, the YES, the claim and the delivery, through the
    services; then the days are rolled up (as the next day's task would) and equal a recount of
    the events, and the selector reads the same with and without the rollup."""
    client = factories.ClientFactory()
    allocate_credit(client, Decimal("100.00"))
    campaign = factories.CampaignFactory(client=client)
    condition = factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=1,
        trigger_type=TriggerType.CALL_COMPLETED,
        min_call_duration_seconds=30,
        card_value=Decimal("20.00"),
    )
    pool = factories.GiftCardPoolFactory(
        client=client, brand=condition.brand, card_value=condition.card_value
    )
    add_cards_to_pool(pool, ["ROLL-0001", "ROLL-0002"])
    factories.TrackedPhoneNumberFactory(campaign=campaign, phone_number="+18005550177")
    recipients = [
        factories.RecipientFactory(campaign=campaign, phone=f"+1555234000{n}") for n in (1, 2)
    ]
    for n, recipient in enumerate(recipients):
        with django_capture_on_commit_callbacks(execute=True):
            handle_incoming_call(
                call_sid=f"CAroll{n}", from_number=recipient.phone, to_number="+18005550177"
            )
            conditions.apply_call_status(call_sid=f"CAroll{n}", status="completed", duration=45)
        with django_capture_on_commit_callbacks(execute=True):
            approval.approve_recipient(recipient=recipient)
        with django_capture_on_commit_callbacks(execute=True):
            inbound.handle_inbound_sms(
                from_number=recipient.phone, body="YES", message_sid=f"SMroll{n}"
            )
    handle_incoming_call(call_sid="CAroll-x", from_number="+15559990000", to_number="+18005550177")

    written = dict(
        Event.objects.filter(client=client)
        .values_list("event_type")
        .annotate(n=Count("id"))
        .order_by()
    )
    assert written["called"] == 3 and written["claimed"] == 2 and written["opted_in"] == 2
    today = today_of(client)
    live = selectors.activity(clients=[client], start=today, end=today)

    tomorrow = timezone.now() + timedelta(days=1, hours=2)
    roll_up_daily_counts(now=tomorrow)
    rolled = dict(
        DailyCount.objects.filter(client=client)
        .values_list("metric")
        .annotate(n=Count("id"))
        .order_by()
    )
    assert set(rolled) == set(written)
    recount = {
        metric: sum(row.count for row in DailyCount.objects.filter(client=client, metric=metric))
        for metric in written
    }
    assert recount == written
    claimed = DailyCount.objects.get(client=client, metric=EventType.CLAIMED)
    assert claimed.amount == Decimal("40.00") and claimed.campaign == campaign

    read = selectors.activity(clients=[client], start=today, end=today)
    assert (read.totals, read.spent) == (live.totals, live.spent)
    assert read.count(EventType.CALLED) == 3 and read.spent == Decimal("40.00")


def test_the_hourly_task_and_the_command_roll_up_and_rebuild():
    from io import StringIO

    from django.core.management import call_command

    from mike.rewards.tasks import roll_up_daily_counts as task

    campaign = factories.CampaignFactory()
    add(campaign, EventType.CALLED, local(campaign.client, 3))
    assert task.apply().get() == 1
    assert task.apply().get() == 0
    # An event written later for a day already rolled up (an import) needs the rebuild.
    add(campaign, EventType.CALLED, local(campaign.client, 3, hour=9))
    out = StringIO()
    call_command("rebuild_daily_counts", campaign.client.slug, stdout=out)
    assert "1 rows written" in out.getvalue()
    assert DailyCount.objects.get(client=campaign.client).count == 2
    call_command("rebuild_daily_counts", "--missing", stdout=out)
    assert DailyCount.objects.get(client=campaign.client).count == 2
