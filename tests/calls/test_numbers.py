"""Tracked numbers bought through Twilio, against the local fake Twilio: search, buy (pointed at
Mike's webhooks, with or without a campaign), re-point, release; each Twilio failure (4xx, 5xx,
no answer in time) leaves nothing written; a number bought but not recordable is released again;
and every call uses the client's own Twilio account, else its agency's, else the platform's."""

import pytest
from django.core.management import call_command
from django.db import connections

from calls import numbers
from calls.models import CallStatus, TrackedNumberStatus, TrackedPhoneNumber
from mike.accounts.twilio_accounts import clear_twilio_credentials, set_twilio_credentials
from tests import factories
from tests.fakes import twilio as fake_twilio

pytestmark = pytest.mark.django_db

CLIENT_SID = "AC" + "c" * 32
CLIENT_TOKEN = "c1" * 16
AGENCY_SID = "AC" + "a" * 32
AGENCY_TOKEN = "a1" * 16

MIKE = "https://mike.example.com"
WEBHOOKS = {
    "voice_url": f"{MIKE}/hooks/twilio/voice/",
    "voice_method": "POST",
    "status_callback": f"{MIKE}/hooks/twilio/voice/status/",
    "status_callback_method": "POST",
    "sms_url": f"{MIKE}/hooks/twilio/sms/",
    "sms_method": "POST",
}


@pytest.fixture
def client_org():
    return factories.ClientFactory(name="Bayside Auto")


def _give_own_account(org, sid, token, fake):
    set_twilio_credentials(organization=org, account_sid=sid, auth_token=token, by=None)
    fake.add_account(sid, token)


# --- Search --------------------------------------------------------------------------------------


def test_search_lists_the_area_codes_local_numbers_with_place_and_capabilities(
    twilio_numbers, client_org
):
    found = numbers.search_available(client_org, "415")

    assert [n.phone_number for n in found] == ["+14155550101", "+14155550102", "+14155550103"]
    first = found[0]
    assert first.friendly_name == "(415) 555-0101"
    assert first.place == "San Francisco, CA"
    assert (first.voice, first.sms, first.mms) == (True, True, True)
    (request,) = twilio_numbers.requests_to("search")
    assert request["path"].endswith(
        f"/Accounts/{fake_twilio.ACCOUNT_SID}/AvailablePhoneNumbers/US/Local.json"
    )
    assert request["params"]["AreaCode"] == "415"
    assert request["params"]["PageSize"] == "20"


def test_search_uses_the_clients_country_and_refuses_a_bad_area_code(twilio_numbers):
    canadian = factories.ClientFactory(phone_region="CA")
    assert [n.phone_number for n in numbers.search_available(canadian, "604")] == ["+16045550101"]
    with pytest.raises(numbers.NumberRefused, match="three digits"):
        numbers.search_available(canadian, "41")
    with pytest.raises(numbers.NumberRefused, match="three digits"):
        numbers.search_available(canadian, "141")
    assert len(twilio_numbers.requests) == 1


def test_without_any_twilio_account_search_says_twilio_is_not_configured(settings, client_org):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    with pytest.raises(numbers.TwilioNotConfigured, match="Twilio is not configured"):
        numbers.search_available(client_org, "415")


# --- Buy -----------------------------------------------------------------------------------------


def test_buying_points_the_number_at_mikes_webhooks_and_tracks_it(twilio_numbers, client_org):
    admin = factories.UserFactory()

    number = numbers.buy_number(
        client_org, "+1 (415) 555-0101", admin, forward_to_number="(800) 555-0199"
    )

    assert number.client == client_org
    assert number.phone_number == "+14155550101"
    assert number.status == TrackedNumberStatus.AVAILABLE
    assert number.campaign is None
    assert number.purchased_at is not None
    assert number.forward_to_number == "+18005550199"
    (bought,) = twilio_numbers.owned.values()
    assert number.twilio_sid == bought["sid"]
    assert bought["phone_number"] == "+14155550101"
    assert {key: bought[key] for key in WEBHOOKS} == WEBHOOKS
    assert bought["friendly_name"] == "Mike · Bayside Auto"
    (request,) = twilio_numbers.requests_to("buy")
    assert request["account_sid"] == fake_twilio.ACCOUNT_SID


def test_buying_for_a_campaign_assigns_the_number_to_it(twilio_numbers, client_org):
    campaign = factories.CampaignFactory(client=client_org)

    number = numbers.buy_number(client_org, "+14155550102", None, campaign=campaign)

    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.ASSIGNED
    assert number.campaign == campaign
    assert number.assigned_at is not None


def test_a_number_already_tracked_is_refused_before_twilio_is_asked(twilio_numbers, client_org):
    factories.TrackedPhoneNumberFactory(phone_number="+14155550101")

    with pytest.raises(numbers.NumberRefused, match="already tracked"):
        numbers.buy_number(client_org, "+14155550101", None)

    assert twilio_numbers.requests == []
    assert not TrackedPhoneNumber.objects.filter(client=client_org).exists()


def test_a_closed_or_foreign_campaign_is_refused_before_twilio_is_asked(twilio_numbers, client_org):
    closed = factories.CampaignFactory(client=client_org, status="completed")
    foreign = factories.CampaignFactory()
    with pytest.raises(numbers.NumberRefused, match="takes no number"):
        numbers.buy_number(client_org, "+14155550101", None, campaign=closed)
    with pytest.raises(numbers.NumberRefused, match="not this client's"):
        numbers.buy_number(client_org, "+14155550101", None, campaign=foreign)
    assert twilio_numbers.requests == []


def test_a_number_the_client_released_is_taken_back_into_its_old_row(twilio_numbers, client_org):
    old = factories.TrackedPhoneNumberFactory(
        client=client_org,
        campaign=None,
        phone_number="+14155550103",
        status=TrackedNumberStatus.DECOMMISSIONED,
        forward_to_number="+18005550123",
    )

    number = numbers.buy_number(client_org, "+14155550103", None)

    assert number.pk == old.pk
    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.AVAILABLE
    assert number.forward_to_number == "+18005550123"
    assert number.twilio_sid == next(iter(twilio_numbers.owned))


@pytest.mark.parametrize(
    ("failure", "error", "message"),
    [
        (
            (400, 21422, "PhoneNumber requested is not available"),
            numbers.TwilioRefused,
            "PhoneNumber requested is not available",
        ),
        ((500, 20500, "Internal error"), numbers.TwilioUnavailable, "Twilio did not answer"),
        ((503, 20503, "Service unavailable"), numbers.TwilioUnavailable, "try again"),
    ],
    ids=["4xx", "500", "503"],
)
def test_a_twilio_error_on_buying_writes_nothing(
    twilio_numbers, client_org, failure, error, message
):
    twilio_numbers.fail(*failure)
    with pytest.raises(error, match=message) as raised:
        numbers.buy_number(client_org, "+14155550101", None)
    if failure[0] == 400:
        assert raised.value.code == "21422"
    assert not TrackedPhoneNumber.objects.exists()


def test_a_number_sold_meanwhile_is_twilios_4xx_message(twilio_numbers, client_org):
    with pytest.raises(numbers.TwilioRefused, match="not available"):
        numbers.buy_number(client_org, "+19995550000", None)
    assert not TrackedPhoneNumber.objects.exists()


def test_twilio_not_answering_in_time_writes_nothing(twilio_numbers, settings, client_org):
    settings.TWILIO_TIMEOUT_SECONDS = 0.3
    twilio_numbers.slow(1.0)
    with pytest.raises(numbers.TwilioUnavailable, match="Twilio did not answer, try again"):
        numbers.buy_number(client_org, "+14155550101", None)
    assert not TrackedPhoneNumber.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_number_tracked_while_twilio_bought_it_is_released_again(twilio_numbers, client_org):
    """Another request tracks the same number between Mike's check and its write: the unique
    index refuses the row, and the number Twilio just sold is given back at once."""
    other = factories.ClientFactory()

    def racing_request(number):
        factories.TrackedPhoneNumberFactory(
            client=other, campaign=None, phone_number=number["phone_number"]
        )
        connections.close_all()

    twilio_numbers.on_buy = racing_request

    with pytest.raises(numbers.NumberRefused, match="released on Twilio again"):
        numbers.buy_number(client_org, "+14155550101", None)

    assert not TrackedPhoneNumber.objects.filter(client=client_org).exists()
    assert twilio_numbers.owned == {}
    (released,) = twilio_numbers.released
    assert released["phone_number"] == "+14155550101"


@pytest.mark.django_db(transaction=True)
def test_a_campaign_closed_while_twilio_bought_the_number_releases_it(twilio_numbers, client_org):
    from campaigns.models import Campaign

    campaign = factories.CampaignFactory(client=client_org)

    def closing_request(number):
        Campaign.objects.filter(pk=campaign.pk).update(status="cancelled")
        connections.close_all()

    twilio_numbers.on_buy = closing_request

    with pytest.raises(numbers.NumberRefused, match="is cancelled"):
        numbers.buy_number(client_org, "+14155550101", None, campaign=campaign)

    assert not TrackedPhoneNumber.objects.exists()
    assert len(twilio_numbers.released) == 1


@pytest.mark.django_db(transaction=True)
def test_a_bought_number_neither_recorded_nor_released_is_named_for_staff(
    twilio_numbers, client_org
):
    def racing_request(number):
        factories.TrackedPhoneNumberFactory(campaign=None, phone_number=number["phone_number"])
        connections.close_all()
        twilio_numbers.fail(500)  # the release that follows

    twilio_numbers.on_buy = racing_request

    with pytest.raises(numbers.NumberOrphaned, match="Twilio's console") as raised:
        numbers.buy_number(client_org, "+14155550101", None)

    assert raised.value.twilio_sid in twilio_numbers.owned
    assert not TrackedPhoneNumber.objects.filter(client=client_org).exists()


# --- Re-point ------------------------------------------------------------------------------------


def test_update_webhooks_points_the_number_at_the_current_site(
    twilio_numbers, settings, client_org
):
    number = numbers.buy_number(client_org, "+14155550101", None)
    settings.SITE_URL = "https://calls.bayside.example/"

    numbers.update_webhooks(number)

    bought = twilio_numbers.owned[number.twilio_sid]
    assert bought["voice_url"] == "https://calls.bayside.example/hooks/twilio/voice/"
    assert bought["sms_url"] == "https://calls.bayside.example/hooks/twilio/sms/"
    assert bought["status_callback"] == "https://calls.bayside.example/hooks/twilio/voice/status/"
    assert bought["voice_method"] == bought["sms_method"] == "POST"


def test_update_webhooks_refuses_numbers_mike_did_not_buy_or_released(twilio_numbers):
    manual = factories.TrackedPhoneNumberFactory(twilio_sid="")
    gone = factories.TrackedPhoneNumberFactory(
        campaign=None, status=TrackedNumberStatus.DECOMMISSIONED
    )
    with pytest.raises(numbers.NumberRefused, match="not bought through Twilio"):
        numbers.update_webhooks(manual)
    with pytest.raises(numbers.NumberRefused, match="is released"):
        numbers.update_webhooks(gone)
    assert twilio_numbers.requests == []


def test_repoint_numbers_command_repoints_every_live_bought_number(
    twilio_numbers, settings, capsys
):
    first = numbers.buy_number(factories.ClientFactory(), "+14155550101", None)
    second = numbers.buy_number(factories.ClientFactory(), "+14155550102", None)
    factories.TrackedPhoneNumberFactory(twilio_sid="")  # not Mike's to re-point
    twilio_numbers.requests.clear()
    settings.SITE_URL = "https://new.example.com"

    call_command("repoint_numbers")

    assert len(twilio_numbers.requests_to("update")) == 2
    for number in (first, second):
        voice = twilio_numbers.owned[number.twilio_sid]["voice_url"]
        assert voice == "https://new.example.com/hooks/twilio/voice/"
    assert "2 numbers re-pointed" in capsys.readouterr().out


# --- Release -------------------------------------------------------------------------------------


def test_release_gives_the_number_back_and_decommissions_it(twilio_numbers, client_org):
    campaign = factories.CampaignFactory(client=client_org)
    number = numbers.buy_number(client_org, "+14155550101", None, campaign=campaign)

    released = numbers.release_number(number, None)

    assert released.status == TrackedNumberStatus.DECOMMISSIONED
    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.DECOMMISSIONED
    assert number.campaign is None and number.assigned_at is None
    assert twilio_numbers.owned == {}
    assert [r["phone_number"] for r in twilio_numbers.released] == ["+14155550101"]
    # Released twice: nothing more is asked of Twilio.
    numbers.release_number(number, None)
    assert len(twilio_numbers.requests_to("release")) == 1


def test_a_number_already_gone_on_twilio_counts_as_released(twilio_numbers, client_org):
    number = factories.TrackedPhoneNumberFactory(client=client_org, campaign=None)

    numbers.release_number(number, None)  # the fake has no such SID: 404

    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.DECOMMISSIONED


@pytest.mark.parametrize("status", [CallStatus.RINGING, CallStatus.IN_PROGRESS])
def test_a_number_with_a_live_call_is_not_released(twilio_numbers, client_org, status):
    number = numbers.buy_number(client_org, "+14155550101", None)
    factories.CallSessionFactory(
        tracked_number=number, campaign=None, recipient=None, client=client_org, call_status=status
    )

    with pytest.raises(numbers.NumberRefused, match="has a call on it now"):
        numbers.release_number(number, None)

    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.AVAILABLE
    assert twilio_numbers.requests_to("release") == []


def test_an_ended_call_does_not_keep_a_number(twilio_numbers, client_org):
    number = numbers.buy_number(client_org, "+14155550101", None)
    factories.CallSessionFactory(
        tracked_number=number,
        campaign=None,
        recipient=None,
        client=client_org,
        call_status=CallStatus.COMPLETED,
    )
    assert numbers.release_number(number, None).status == TrackedNumberStatus.DECOMMISSIONED


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        ((400, 20003, "Permission denied"), numbers.TwilioRefused),
        ((500, 20500, "x"), numbers.TwilioUnavailable),
    ],
    ids=["4xx", "5xx"],
)
def test_a_twilio_error_on_release_leaves_the_number_as_it_was(
    twilio_numbers, client_org, failure, error
):
    campaign = factories.CampaignFactory(client=client_org)
    number = numbers.buy_number(client_org, "+14155550101", None, campaign=campaign)
    twilio_numbers.fail(*failure)

    with pytest.raises(error):
        numbers.release_number(number, None)

    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.ASSIGNED and number.campaign == campaign
    assert number.twilio_sid in twilio_numbers.owned


def test_a_timeout_on_release_leaves_the_number_as_it_was(twilio_numbers, settings, client_org):
    number = numbers.buy_number(client_org, "+14155550101", None)
    settings.TWILIO_TIMEOUT_SECONDS = 0.3
    twilio_numbers.slow(1.0)
    with pytest.raises(numbers.TwilioUnavailable):
        numbers.release_number(number, None)
    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.AVAILABLE


def test_forwarding_is_set_in_e164_and_nonsense_is_refused(client_org):
    number = factories.TrackedPhoneNumberFactory(client=client_org, campaign=None)
    assert numbers.set_forward_to_number(number, "(800) 555-0142", None).forward_to_number == (
        "+18005550142"
    )
    with pytest.raises(numbers.NumberRefused, match="not a phone number"):
        numbers.set_forward_to_number(number, "call me", None)
    assert numbers.set_forward_to_number(number, "", None).forward_to_number == ""


# --- Whose account -------------------------------------------------------------------------------


def test_a_client_with_its_own_account_uses_it_for_every_call(twilio_numbers):
    agency = factories.AgencyFactory()
    client_org = factories.ClientFactory(parent=agency)
    _give_own_account(agency, AGENCY_SID, AGENCY_TOKEN, twilio_numbers)
    _give_own_account(client_org, CLIENT_SID, CLIENT_TOKEN, twilio_numbers)

    numbers.search_available(client_org, "415")
    number = numbers.buy_number(client_org, "+14155550101", None)
    numbers.update_webhooks(number)
    numbers.release_number(number, None)

    assert {r["kind"] for r in twilio_numbers.requests} == {"search", "buy", "update", "release"}
    for request in twilio_numbers.requests:
        assert request["account_sid"] == CLIENT_SID
        assert request["auth_user"] == CLIENT_SID and request["auth_matches"]


def test_a_client_without_an_account_uses_its_agencys(twilio_numbers):
    agency = factories.AgencyFactory()
    client_org = factories.ClientFactory(parent=agency)
    _give_own_account(agency, AGENCY_SID, AGENCY_TOKEN, twilio_numbers)

    number = numbers.buy_number(client_org, "+14155550101", None)

    assert twilio_numbers.owned[number.twilio_sid]["account_sid"] == AGENCY_SID
    (request,) = twilio_numbers.requests
    assert request["auth_user"] == AGENCY_SID and request["auth_matches"]


def test_a_number_is_released_on_the_account_it_was_bought_on(twilio_numbers):
    agency = factories.AgencyFactory()
    client_org = factories.ClientFactory(parent=agency)
    _give_own_account(agency, AGENCY_SID, AGENCY_TOKEN, twilio_numbers)
    number = numbers.buy_number(client_org, "+14155550101", None)
    assert number.twilio_account_sid == AGENCY_SID
    # The client gets an account of its own later: the number still lives on the agency's.
    _give_own_account(client_org, CLIENT_SID, CLIENT_TOKEN, twilio_numbers)
    client_org.refresh_from_db()
    number.refresh_from_db()

    numbers.release_number(number, None)

    release = twilio_numbers.requests[-1]
    assert release["kind"] == "release" and release["account_sid"] == AGENCY_SID


def test_a_number_whose_account_mike_no_longer_holds_is_not_released_elsewhere(twilio_numbers):
    client_org = factories.ClientFactory()
    _give_own_account(client_org, CLIENT_SID, CLIENT_TOKEN, twilio_numbers)
    number = numbers.buy_number(client_org, "+14155550101", None)
    clear_twilio_credentials(organization=client_org, by=None)
    client_org.refresh_from_db()
    number.refresh_from_db()

    with pytest.raises(numbers.TwilioNotConfigured, match="no longer has"):
        numbers.release_number(number, None)

    number.refresh_from_db()
    assert number.status != TrackedNumberStatus.DECOMMISSIONED
    assert [r["kind"] for r in twilio_numbers.requests] == ["buy"]


def test_a_client_and_agency_without_accounts_use_the_platforms(twilio_numbers, client_org):
    numbers.buy_number(client_org, "+14155550101", None)
    (request,) = twilio_numbers.requests
    assert request["account_sid"] == request["auth_user"] == fake_twilio.ACCOUNT_SID
    assert request["auth_matches"]


def test_a_wrong_stored_token_is_twilios_refusal_and_writes_nothing(twilio_numbers, client_org):
    set_twilio_credentials(
        organization=client_org, account_sid=CLIENT_SID, auth_token=CLIENT_TOKEN, by=None
    )
    twilio_numbers.add_account(CLIENT_SID, "another" + "0" * 25)
    with pytest.raises(numbers.TwilioRefused, match="Authenticate"):
        numbers.buy_number(client_org, "+14155550101", None)
    assert not TrackedPhoneNumber.objects.exists()
