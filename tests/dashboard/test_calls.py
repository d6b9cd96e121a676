"""The calls log (filters, masking, export) and a call's page (recording, dispositions, notes,
conditions met); call-centre agents use both, over their own clients' calls."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from calls.models import CallSession, DispositionType
from mike.accounts.models import UserTablePreference
from tests import factories

from .helpers import assert_queries_do_not_grow, read_csv

LOG = reverse("dashboard:calls_log")


def detail_url(call):
    return reverse("dashboard:call", args=[call.pk])


@pytest.fixture
def campaign(tenants):
    return factories.CampaignFactory(client=tenants.client_a, name="Spring mailing")


@pytest.fixture
def call(campaign):
    recipient = factories.RecipientFactory(
        campaign=campaign, first_name="Ava", last_name="Nguyen", phone="+15552010001"
    )
    return factories.CallSessionFactory(
        campaign=campaign,
        recipient=recipient,
        tracked_number__phone_number="+18005550101",
        call_duration_seconds=125,
        recording_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3",
        recording_duration=120,
        notes="Asked about the roof warranty.",
    )


@pytest.fixture
def outsider_call(tenants):
    return factories.CallSessionFactory(
        campaign=factories.CampaignFactory(client=tenants.client_b), caller_phone="+15559990001"
    )


def listed(response) -> list:
    return [row.record.pk for row in response.context["table"].paginated_rows]


# --- The log -----------------------------------------------------------------------------------


def test_client_sees_their_calls_and_not_another_clients(login_as, people, call, outsider_call):
    response = login_as(people.client_user).get(LOG)
    assert response.status_code == 200
    assert listed(response) == [call.pk]
    body = response.content.decode()
    assert "Ava Nguyen" in body
    assert "(800) 555-0101" in body
    assert "Spring mailing" in body
    assert "2:05" in body


def test_anonymous_is_sent_to_sign_in(client, db):
    assert client.get(LOG)["Location"].startswith("/app/login/")


def test_the_caller_is_masked_except_for_staff(login_as, people, call):
    body = login_as(people.client_admin).get(LOG).content.decode()
    assert "••••\N{NO-BREAK SPACE}0001" in body
    assert "201-0001" not in body
    assert "(555) 201-0001" in login_as(people.staff).get(LOG).content.decode()


def test_calls_sends_those_who_do_not_work_calls_to_the_log(login_as, people):
    """A client user sees the calls but does not take them: the console is not theirs."""
    response = login_as(people.client_user).get(reverse("dashboard:calls"))
    assert response.status_code == 302
    assert response["Location"] == LOG


def test_agents_see_their_clients_calls_only(login_as, people, call, outsider_call, tenants):
    other_of_agency = factories.CallSessionFactory(
        campaign=factories.CampaignFactory(client=tenants.client_a2)
    )
    response = login_as(people.agent).get(LOG)
    assert response.status_code == 200
    assert listed(response) == [call.pk]
    assert other_of_agency.pk not in listed(response)
    # The recipient's page is not an agent's: the name is shown, not linked.
    assert reverse("dashboard:recipient", args=[call.recipient_id]) not in (
        response.content.decode()
    )
    assert login_as(people.agent).get(detail_url(call)).status_code == 200
    assert login_as(people.agent).get(detail_url(outsider_call)).status_code == 404


def test_the_nav_shows_calls_to_agents(login_as, people):
    body = login_as(people.agent).get(LOG).content.decode()
    assert f'href="{reverse("dashboard:calls")}"' in body
    assert reverse("dashboard:recipients") not in body


def test_filter_matched_and_unmatched(login_as, people, call, campaign):
    unmatched = factories.CallSessionFactory(campaign=campaign, recipient=None)
    client = login_as(people.client_admin)
    assert listed(client.get(LOG, {"matched": "matched"})) == [call.pk]
    assert listed(client.get(LOG, {"matched": "unmatched"})) == [unmatched.pk]


def test_filter_by_disposition_uses_the_latest(login_as, people, call, campaign):
    other = factories.CallSessionFactory(campaign=campaign)
    first = factories.CallDispositionFactory(
        call_session=call,
        disposition_type=DispositionType.CALLBACK_REQUESTED,
        follow_up_date=datetime(2026, 12, 10).date(),
    )
    type(first).objects.filter(pk=first.pk).update(created_at=first.created_at - timedelta(hours=1))
    factories.CallDispositionFactory(call_session=call, disposition_type=DispositionType.INTERESTED)
    client = login_as(people.client_admin)
    assert listed(client.get(LOG, {"disposition": "interested"})) == [call.pk]
    assert listed(client.get(LOG, {"disposition": "callback_requested"})) == []
    assert listed(client.get(LOG, {"disposition": "none"})) == [other.pk]


def test_filter_by_campaign(login_as, people, call, tenants):
    other = factories.CallSessionFactory(
        campaign=factories.CampaignFactory(client=tenants.client_a)
    )
    client = login_as(people.client_admin)
    assert listed(client.get(LOG, {"campaign": str(call.campaign_id)})) == [call.pk]
    assert listed(client.get(LOG, {"campaign": str(other.campaign_id)})) == [other.pk]


def test_filter_by_dates_in_the_clients_time_zone(login_as, people, campaign, tenants):
    zone = ZoneInfo(tenants.client_a.timezone)  # America/New_York
    late_evening = factories.CallSessionFactory(campaign=campaign)
    next_morning = factories.CallSessionFactory(campaign=campaign)
    # 23:30 in New York on Dec 1 is Dec 2 in UTC: it belongs to Dec 1 for the client.
    CallSession.objects.filter(pk=late_evening.pk).update(
        created_at=datetime(2026, 12, 1, 23, 30, tzinfo=zone)
    )
    CallSession.objects.filter(pk=next_morning.pk).update(
        created_at=datetime(2026, 12, 2, 8, 0, tzinfo=zone)
    )
    client = login_as(people.client_admin)
    day = {"date_from": "2026-12-01", "date_to": "2026-12-01"}
    assert listed(client.get(LOG, day)) == [late_evening.pk]
    assert listed(client.get(LOG, {"date_from": "2026-12-02"})) == [next_morning.pk]
    assert listed(client.get(LOG, {"date_from": "2026-12-03", "date_to": "2026-12-01"})) == []


def test_a_bad_date_is_a_field_error(login_as, people, call):
    response = login_as(people.client_admin).get(LOG, {"date_from": "yesterday"})
    assert response.context["filter"].errors["date_from"]


def test_the_conditions_met_column_counts_the_calls_conditions(login_as, people, call, campaign):
    for number in (1, 2):
        factories.CallConditionMetFactory(
            recipient=call.recipient,
            condition=factories.CampaignConditionFactory(
                campaign=campaign, condition_number=number
            ),
            call_session=call,
        )
    response = login_as(people.client_admin).get(LOG)
    assert response.context["table"].paginated_rows[0].record.conditions_met_count == 2


def test_log_queries_do_not_grow_with_rows(login_as, people, campaign):
    UserTablePreference.objects.create(
        user=people.client_admin, table_name="CallTable", page_size=200
    )
    condition = factories.CampaignConditionFactory(campaign=campaign)

    def add_rows(n):
        for _ in range(n):
            call = factories.CallSessionFactory(campaign=campaign)
            factories.CallDispositionFactory(call_session=call)
            factories.CallConditionMetFactory(
                recipient=call.recipient, condition=condition, call_session=call
            )

    assert_queries_do_not_grow(login_as(people.client_admin), LOG, add_rows)


def test_export_holds_the_filtered_calls(login_as, people, call, campaign):
    factories.CallSessionFactory(campaign=campaign, recipient=None)
    rows = read_csv(login_as(people.client_admin).get(LOG, {"matched": "matched", "export": "csv"}))
    assert len(rows) == 1
    [row] = rows
    assert row["Recipient"] == "Ava Nguyen"
    assert row["Caller"] == "••••\N{NO-BREAK SPACE}0001"
    assert row["Duration"] == "125"
    assert row["Conditions met"] == "0"


# --- A call's page -----------------------------------------------------------------------------


def test_the_call_page_plays_the_recording_and_shows_notes_and_conditions(
    login_as, people, call, campaign
):
    factories.CallDispositionFactory(
        call_session=call, notes="Booked for Tuesday.", agent=people.agent
    )
    factories.CallConditionMetFactory(
        recipient=call.recipient,
        condition=factories.CampaignConditionFactory(
            campaign=campaign, condition_name="Booked an inspection"
        ),
        call_session=call,
    )
    response = login_as(people.client_user).get(detail_url(call))
    assert response.status_code == 200
    body = response.content.decode()
    assert (
        f'<audio class="people-audio" controls preload="none" src="{call.recording_url}">' in body
    )
    assert "Booked for Tuesday." in body
    assert "Interested" in body
    assert "Asked about the roof warranty." in body
    assert "Booked an inspection" in body
    assert reverse("dashboard:recipient", args=[call.recipient_id]) in body


def test_a_call_without_recording_says_so(login_as, people, campaign):
    call = factories.CallSessionFactory(campaign=campaign, recipient=None, recording_url="")
    body = login_as(people.client_user).get(detail_url(call)).content.decode()
    assert "<audio" not in body
    assert "No recording" in body
    assert "Not matched" in body


def test_another_clients_call_is_404(login_as, people, call):
    assert login_as(people.other_client_admin).get(detail_url(call)).status_code == 404
