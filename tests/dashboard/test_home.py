"""The home page /app/: the numbers of a date range for the selected client (or all of them), the
funnel and per-day charts with their tables, recent activity, alerts and the onboarding
checklist."""

from datetime import datetime, time, timedelta
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from campaigns.daily_counts import roll_up_daily_counts, zone
from campaigns.models import CampaignStatus, EventType
from giftcards.models import DeliveryStatus
from mike.dashboard import charts
from tests import factories
from tests.dashboard.helpers import assert_queries_do_not_grow

HOME = "/app/"


def local_today(client):
    return timezone.now().astimezone(zone(client.timezone)).date()


def at(client, days_ago: int, hour: int = 12):
    """Noon (or `hour`) of the day `days_ago` days before today, in the client's time zone."""
    day = local_today(client) - timedelta(days=days_ago)
    return datetime.combine(day, time(hour), tzinfo=zone(client.timezone))


def events(campaign, event_type, n, *, days_ago=1, **data):
    for _ in range(n):
        factories.EventFactory(
            campaign=campaign,
            client=campaign.client,
            event_type=event_type,
            occurred_at=at(campaign.client, days_ago),
            event_data=data,
        )


def known_dataset(client, *, scale=1):
    """A campaign mailed to 100 three days ago and a week of its funnel, one older call (20 days
    ago, in the 30-day range only) and one older still (40 days ago, in none but 90)."""
    audience = factories.AudienceFactory(client=client, total_count=100 * scale)
    campaign = factories.CampaignFactory(
        client=client,
        audience=audience,
        status=CampaignStatus.MAILED,
        mail_date=local_today(client) - timedelta(days=3),
    )
    events(campaign, EventType.CALLED, 6 * scale)
    events(campaign, EventType.MATCHED, 5 * scale)
    events(campaign, EventType.CONDITION_MET, 4 * scale)
    events(campaign, EventType.APPROVED, 3 * scale, days_ago=0)
    events(campaign, EventType.OPTED_IN, 3 * scale)
    events(campaign, EventType.CLAIMED, 2 * scale, card_value="15.00")
    events(campaign, EventType.DELIVERED, 2 * scale)
    events(campaign, EventType.REDEEMED, 1 * scale)
    events(campaign, EventType.PAGE_VIEWED, 9)  # not a step of the funnel
    events(campaign, EventType.CALLED, 1, days_ago=20)
    events(campaign, EventType.CALLED, 1, days_ago=40)
    return campaign


WEEK = {
    "mailed": 100,
    "called": 6,
    "matched": 5,
    "condition_met": 4,
    "approved": 3,
    "opted_in": 3,
    "claimed": 2,
    "delivered": 2,
    "redeemed": 1,
}


def totals(response) -> dict:
    numbers = response.context["numbers"]
    return {metric: count for metric, _, count in numbers.funnel}


def test_the_owner_sees_the_numbers_of_the_last_seven_days(tenants, people, login_as):
    known_dataset(tenants.client_a)
    response = login_as(people.client_admin).get(HOME, {"days": 7})
    assert response.status_code == 200
    assert totals(response) == WEEK
    assert response.context["numbers"].spent == Decimal("30.00")
    page = response.content.decode()
    assert "$30.00" in page and "Condition met" in page


def test_a_longer_range_counts_the_older_days(tenants, people, login_as):
    known_dataset(tenants.client_a)
    web = login_as(people.client_admin)
    assert totals(web.get(HOME))["called"] == 7  # 30 days, the default
    assert totals(web.get(HOME, {"days": 90}))["called"] == 8


def test_a_custom_range(tenants, people, login_as):
    known_dataset(tenants.client_a)
    today = local_today(tenants.client_a)
    response = login_as(people.client_admin).get(
        HOME,
        {"start": (today - timedelta(days=25)).isoformat(), "end": (today - timedelta(days=2))},
    )
    found = totals(response)
    assert found["called"] == 1  # only the call of 20 days ago
    assert found["mailed"] == 100  # mailed 3 days ago
    assert found["approved"] == 0
    assert response.context["range"].preset is None


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"start": "2026-12-10", "end": "2026-12-01"}, "The last day comes before the first."),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "Choose at most 366 days."),
        ({"start": "not a day", "end": "2026-12-01"}, "Enter a valid date."),
        ({"start": "2026-12-01"}, "This field is required."),
    ],
)
def test_a_bad_range_gets_a_field_error_and_the_default_days(
    tenants, people, login_as, query, error
):
    response = login_as(people.client_admin).get(HOME, query)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert response.context["range"].days == 30


def test_another_clients_data_is_never_counted(tenants, people, login_as):
    known_dataset(tenants.client_b, scale=3)
    response = login_as(people.client_admin).get(HOME, {"days": 90})
    assert set(totals(response).values()) == {0}
    assert response.context["recent"] == []


def test_all_clients_is_the_sum_of_each(tenants, people, login_as):
    known_dataset(tenants.client_a)
    known_dataset(tenants.client_a2, scale=2)
    known_dataset(tenants.client_b, scale=5)  # another agency's client
    web = login_as(people.agency_admin, "all")
    everything = totals(web.get(HOME, {"days": 7}))
    one = totals(login_as(people.agency_admin, tenants.client_a).get(HOME, {"days": 7}))
    two = totals(login_as(people.agency_admin, tenants.client_a2).get(HOME, {"days": 7}))
    assert one == WEEK
    assert everything == {metric: one[metric] + two[metric] for metric in one}
    assert everything["called"] == 18


def test_the_rolled_up_days_give_the_same_numbers(tenants, people, login_as):
    """Whether the days are read from the rollup or counted from the events, the page says the
    same; and events after the rollup's last day still count."""
    known_dataset(tenants.client_a)
    web = login_as(people.client_admin)
    before = {days: totals(web.get(HOME, {"days": days})) for days in (7, 30, 90)}
    assert roll_up_daily_counts() > 0
    events(factories.CampaignFactory(client=tenants.client_a), EventType.CALLED, 2, days_ago=0)
    after = {days: totals(web.get(HOME, {"days": days})) for days in (7, 30, 90)}
    for days in (7, 30, 90):
        assert after[days] == {**before[days], "called": before[days]["called"] + 2}


def test_query_count_does_not_grow_with_events_or_recipients(tenants, people, login_as):
    web = login_as(people.client_admin)
    campaign = known_dataset(tenants.client_a)

    def add_rows(n):
        for _ in range(n):
            recipient = factories.RecipientFactory(campaign=campaign)
            factories.EventFactory(
                campaign=campaign, recipient=recipient, event_type=EventType.CALLED
            )

    assert_queries_do_not_grow(web, HOME, add_rows)


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get(HOME)
    assert response.status_code == 302 and response["Location"].startswith("/app/login/")


def test_the_page_does_not_take_posts(tenants, people, login_as):
    assert login_as(people.client_user).post(HOME).status_code == 405


def test_a_read_only_user_sees_it(tenants, people, login_as):
    known_dataset(tenants.client_a)
    assert totals(login_as(people.client_user).get(HOME, {"days": 7})) == WEEK


def test_htmx_gets_the_body_only(tenants, people, login_as):
    response = login_as(people.client_admin).get(HOME, {"days": 7}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert 'id="home-body"' in page and "<html" not in page
    assert "HX-Request" in response["Vary"]


# --- Charts ---------------------------------------------------------------------------------------


def _svg_of(html: str) -> ElementTree.Element:
    return ElementTree.fromstring(html)


def test_the_funnel_chart_is_valid_svg_with_a_text_table():
    chart = charts.funnel_chart([("Mailed", 1000), ("Called", 120), ("Matched", 0)], title="F")
    svg = _svg_of(str(chart.svg))
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.tag == f"{ns}svg" and svg.get("role") == "img"
    bars = [r for r in svg.iter(f"{ns}rect") if r.get("class") == "bar"]
    assert [b.get("width") for b in bars] == ["100%", "12%", "0%"]
    labels = [t.text for t in svg.iter(f"{ns}text") if t.get("class") == "label"]
    assert labels == ["Mailed", "Called", "Matched"]
    assert chart.rows == [
        ["Mailed", "1,000", "—"],
        ["Called", "120", "12% of mailed"],
        ["Matched", "0", "0% of called"],
    ]


def test_the_per_day_chart_has_axis_labels_and_a_row_per_day():
    today = timezone.localdate()
    days = [today - timedelta(days=n) for n in range(29, -1, -1)]
    chart = charts.daily_bars(
        days, [("Calls", "", list(range(30))), ("Rewards", "alt", [1] * 30)], title="Per day"
    )
    svg = _svg_of(str(chart.svg))
    ns = "{http://www.w3.org/2000/svg}"
    ticks = [t.text for t in svg.iter(f"{ns}text") if t.get("class") == "tick"]
    assert ticks[:4] == ["0", "10", "20", "30"]  # the y axis: round steps up to the most
    assert f"{days[0]:%b} {days[0].day}" in ticks and f"{today:%b} {today.day}" in ticks
    assert len(chart.rows) == 30 and chart.columns == ["Day", "Calls", "Rewards"]
    assert chart.rows[-1][1:] == ["29", "1"]


@pytest.mark.parametrize(
    ("most", "axis"),
    [(0, (1, 1)), (1, (1, 1)), (3, (3, 1)), (7, (8, 2)), (29, (30, 10)), (1234, (1500, 500))],
)
def test_the_y_axis_has_round_steps(most, axis):
    assert charts.axis(most) == axis


def test_an_empty_chart_is_still_valid():
    chart = charts.daily_bars([timezone.localdate()], [("Calls", "", [0])], title="Nothing")
    _svg_of(str(chart.svg))
    _svg_of(str(charts.funnel_chart([("Mailed", 0)], title="Nothing").svg))


def test_the_page_has_both_charts_and_their_tables(tenants, people, login_as):
    known_dataset(tenants.client_a)
    page = login_as(people.client_admin).get(HOME, {"days": 7}).content.decode()
    assert page.count('role="img"') == 2
    assert "Funnel as a table" in page and "Calls and rewards per day as a table" in page


# --- Recent activity, alerts, onboarding ----------------------------------------------------------


def test_recent_activity_reads_as_sentences(tenants, people, login_as):
    campaign = factories.CampaignFactory(client=tenants.client_a, name="Spring mailer")
    recipient = factories.RecipientFactory(campaign=campaign, first_name="Ava", last_name="Kim")
    factories.EventFactory(
        campaign=campaign,
        recipient=recipient,
        event_type=EventType.CLAIMED,
        event_data={"card_value": "15.00"},
    )
    page = login_as(people.client_admin).get(HOME).content.decode()
    assert "Ava Kim was rewarded a $15.00 card" in page
    assert f"/app/recipients/{recipient.pk}/" in page and "Spring mailer" in page


def test_alerts_link_to_where_they_are_dealt_with(tenants, people, login_as):
    factories.GiftCardPoolFactory(
        client=tenants.client_a, pool_name="Amazon $25", low_stock_threshold=5
    )
    account = factories.CreditAccountFactory(
        organization=tenants.client_a, balance=Decimal("40"), low_balance_threshold=Decimal("100")
    )
    factories.GiftCardDeliveryFactory(
        recipient=factories.RecipientFactory(
            campaign=factories.CampaignFactory(client=tenants.client_a)
        ),
        status=DeliveryStatus.FAILED,
    )
    factories.GiftCardPoolFactory(client=tenants.client_b, pool_name="Other tenant pool")
    alerts = login_as(people.client_admin).get(HOME).context["alerts"]
    texts = {alert["text"]: alert["url"] for alert in alerts}
    assert texts == {
        "Amazon $25: no cards left": "/app/giftcards/",
        "Credit is low: $40.00 left": "/app/credit/",
        "1 card delivery failed": "/app/deliveries/?status=failed",
    }
    assert account.is_low


def test_onboarding_items_tick_as_data_appears(tenants, people, login_as):
    web = login_as(people.client_admin)

    def done():
        steps = web.get(HOME).context["onboarding"]
        return None if steps is None else [step["done"] for step in steps]

    assert done() == [False, False, False, False, False]
    campaign = factories.CampaignFactory(client=tenants.client_a)
    assert done() == [True, False, False, False, False]
    factories.RecipientFactory(campaign=campaign)
    assert done() == [True, True, False, False, False]
    factories.CreditAccountFactory(organization=tenants.client_a, balance=Decimal("50"))
    assert done() == [True, True, True, False, False]
    tracked = factories.TrackedPhoneNumberFactory(campaign=campaign)
    assert done() == [True, True, True, True, False]
    factories.CallSessionFactory(campaign=campaign, tracked_number=tracked)
    assert done() is None  # a client that has it all set up sees no checklist


def test_the_checklist_links_to_where_each_step_is_done(tenants, people, login_as):
    page = login_as(people.client_admin).get(HOME).content.decode()
    for url in ("/app/campaigns/new/", "/app/giftcards/", "/app/credit/", "/app/calls/log/"):
        assert f'href="{url}"' in page


def test_all_clients_shows_no_checklist(tenants, people, login_as):
    assert login_as(people.agency_admin, "all").get(HOME).context["onboarding"] is None


# --- The campaign overview tab --------------------------------------------------------------------


def test_the_overview_tab_shows_the_campaigns_funnel_and_days(tenants, people, rf):
    from mike.dashboard.views.campaign_overview import overview_tab

    campaign = known_dataset(tenants.client_a)
    other = factories.CampaignFactory(client=tenants.client_a)
    events(other, EventType.CALLED, 50)
    request = rf.get(f"/app/campaigns/{campaign.pk}/")
    request.user = people.client_admin
    html = overview_tab(request, campaign)
    assert html.count('role="img"') == 2
    assert "Funnel as a table" in html and "Calls and rewards per day as a table" in html
    # Since the campaign began (mailed three days ago): its 6 calls of yesterday, not the other
    # campaign's 50 (nor the older ones the dataset dates before the campaign existed).
    assert '<th scope="row">Called</th><td class="num">6</td>' in html
    assert '<th scope="row">Mailed</th><td class="num">100</td>' in html
    assert "$30.00" in html and campaign.get_status_display() in html
