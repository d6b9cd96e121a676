"""The phone numbers pages (/app/numbers/) and the Twilio account page (/app/settings/twilio/):
client admins search, buy, assign, forward and release their numbers against the fake Twilio;
read-only roles are refused, another tenant's numbers are not found, and a token is never shown
back."""

import pytest

from calls.models import CallStatus, TrackedNumberStatus, TrackedPhoneNumber
from mike.accounts.models import Organization
from mike.accounts.twilio_accounts import credentials_for, set_twilio_credentials
from tests import factories

pytestmark = pytest.mark.django_db

NUMBERS = "/app/numbers/"
SEARCH = "/app/numbers/search/"
BUY = "/app/numbers/buy/"
TWILIO = "/app/settings/twilio/"
TOKEN = "0123456789abcdef0123456789abcdef"
CLIENT_SID = "AC" + "c" * 32
AGENCY_SID = "AC" + "a" * 32


def _number(number, action=""):
    return f"{NUMBERS}{number.pk}/{action + '/' if action else ''}"


def _in_use(org):
    return credentials_for(Organization.objects.get(pk=org.pk))


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_the_list_shows_the_clients_numbers_only(login_as, people, tenants):
    mine = factories.TrackedPhoneNumberFactory(
        campaign__client=tenants.client_a,
        campaign__name="Spring service",
        phone_number="+18005550111",
    )
    released = factories.TrackedPhoneNumberFactory(
        client=tenants.client_a,
        campaign=None,
        phone_number="+18005550112",
        status=TrackedNumberStatus.DECOMMISSIONED,
    )
    theirs = factories.TrackedPhoneNumberFactory(
        campaign__client=tenants.client_b, phone_number="+18005550113"
    )
    browser = login_as(people.client_admin)

    page = browser.get(NUMBERS).content.decode()

    assert "(800) 555-0111" in page and "Spring service" in page
    assert "(800) 555-0112" not in page  # released numbers only on asking
    assert "(800) 555-0113" not in page
    assert "Phone numbers" in page and "Buy a number" in page
    assert "(800) 555-0112" in browser.get(NUMBERS, {"status": "decommissioned"}).content.decode()
    assert browser.get(_number(mine)).status_code == 200
    assert browser.get(_number(released)).status_code == 200
    assert browser.get(_number(theirs)).status_code == 404


def test_searching_and_buying_a_number_for_a_campaign(login_as, people, tenants, twilio_numbers):
    campaign = factories.CampaignFactory(client=tenants.client_a, name="Spring service")
    browser = login_as(people.client_admin)

    page = browser.get(SEARCH, {"area_code": "415"}).content.decode()
    assert "3 numbers in 415" in page
    assert "(415) 555-0101" in page and "San Francisco, CA" in page
    confirm = browser.get(BUY, {"phone_number": "+14155550101", "area_code": "415"})
    assert confirm.status_code == 200
    assert "Buy (415) 555-0101" in confirm.content.decode()
    assert twilio_numbers.requests_to("buy") == []  # the confirmation page buys nothing

    response = browser.post(
        BUY,
        {
            "phone_number": "+14155550101",
            "campaign": campaign.pk,
            "forward_to_number": "(800) 555-0199",
            "friendly_name": "Spring mail",
        },
        follow=True,
    )

    number = TrackedPhoneNumber.objects.get(phone_number="+14155550101")
    assert response.redirect_chain[-1][0] == _number(number)
    assert "(415) 555-0101 is bought and put on Spring service." in _messages(response)
    assert number.client == tenants.client_a
    assert number.campaign == campaign and number.status == TrackedNumberStatus.ASSIGNED
    assert number.forward_to_number == "+18005550199"
    assert number.friendly_name == "Spring mail"
    bought = twilio_numbers.owned[number.twilio_sid]
    assert bought["voice_url"].endswith("/hooks/twilio/voice/")
    assert bought["sms_url"].endswith("/hooks/twilio/sms/")


def test_a_bad_area_code_is_a_field_error(login_as, people, twilio_numbers):
    page = login_as(people.client_admin).get(SEARCH, {"area_code": "04"})
    assert page.status_code == 200
    assert page.context["form"].errors["area_code"]
    assert twilio_numbers.requests == []


def test_without_twilio_the_search_says_so_plainly(login_as, people, settings):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    page = login_as(people.client_admin).get(SEARCH, {"area_code": "415"})
    assert page.status_code == 200
    assert "Twilio is not configured" in page.content.decode()


def test_twilio_failing_on_search_or_buy_is_a_message(login_as, people, twilio_numbers):
    browser = login_as(people.client_admin)
    twilio_numbers.fail(503)
    page = browser.get(SEARCH, {"area_code": "415"}).content.decode()
    assert "Twilio did not answer, try again" in page

    twilio_numbers.fail(400, 21422, "PhoneNumber requested is not available")
    response = browser.post(BUY, {"phone_number": "+14155550101"})
    assert response.status_code == 200
    assert "PhoneNumber requested is not available" in _messages(response)
    assert not TrackedPhoneNumber.objects.exists()


def test_assign_unassign_and_forwarding(login_as, people, tenants):
    number = factories.TrackedPhoneNumberFactory(client=tenants.client_a, campaign=None)
    campaign = factories.CampaignFactory(client=tenants.client_a, name="Spring service")
    closed = factories.CampaignFactory(client=tenants.client_a, status="completed")
    foreign = factories.CampaignFactory(client=tenants.client_b)
    browser = login_as(people.client_admin)

    detail = browser.get(_number(number))
    choices = list(detail.context["assign_form"].fields["campaign"].queryset)
    assert choices == [campaign]  # open campaigns of the client only

    response = browser.post(_number(number, "assign"), {"campaign": campaign.pk}, follow=True)
    assert any("is on Spring service" in m for m in _messages(response))
    number.refresh_from_db()
    assert number.campaign == campaign and number.status == TrackedNumberStatus.ASSIGNED

    for refused in (closed, foreign):
        response = browser.post(_number(number, "assign"), {"campaign": refused.pk}, follow=True)
        assert "Choose one of the client's open campaigns." in _messages(response)
    number.refresh_from_db()
    assert number.campaign == campaign

    browser.post(_number(number, "unassign"))
    number.refresh_from_db()
    assert number.campaign is None and number.status == TrackedNumberStatus.AVAILABLE

    browser.post(_number(number, "forward"), {"forward_to_number": "800 555 0142"})
    number.refresh_from_db()
    assert number.forward_to_number == "+18005550142"
    response = browser.post(_number(number, "forward"), {"forward_to_number": "soon"}, follow=True)
    assert any("not a phone number" in m for m in _messages(response))


def test_releasing_asks_first_then_gives_the_number_back(login_as, people, tenants, twilio_numbers):
    from calls import numbers

    campaign = factories.CampaignFactory(client=tenants.client_a)
    number = numbers.buy_number(tenants.client_a, "+14155550101", None, campaign=campaign)
    browser = login_as(people.client_admin)

    confirm = browser.get(_number(number, "release"))
    assert "cannot be undone" in confirm.content.decode()
    assert twilio_numbers.requests_to("release") == []

    response = browser.post(_number(number, "release"), follow=True)
    assert response.redirect_chain[-1][0] == NUMBERS
    assert any("is released" in m for m in _messages(response))
    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.DECOMMISSIONED and number.campaign is None
    assert number.twilio_sid not in twilio_numbers.owned


def test_a_number_on_a_live_call_is_not_released(login_as, people, tenants, twilio_numbers):
    number = factories.TrackedPhoneNumberFactory(client=tenants.client_a, campaign=None)
    factories.CallSessionFactory(
        client=tenants.client_a,
        tracked_number=number,
        campaign=None,
        recipient=None,
        call_status=CallStatus.IN_PROGRESS,
    )
    browser = login_as(people.client_admin)
    assert "ringing or in progress" in browser.get(_number(number, "release")).content.decode()
    response = browser.post(_number(number, "release"), follow=True)
    assert any("has a call on it now" in m for m in _messages(response))
    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.AVAILABLE
    assert twilio_numbers.requests == []


@pytest.mark.parametrize("who", ["agency_admin", "staff"])
def test_agency_admins_and_staff_manage_the_selected_clients_numbers(
    login_as, people, tenants, who
):
    number = factories.TrackedPhoneNumberFactory(client=tenants.client_a, campaign=None)
    browser = login_as(getattr(people, who), select=tenants.client_a)
    assert browser.get(NUMBERS).status_code == 200
    assert browser.get(_number(number)).status_code == 200
    browser.post(_number(number, "forward"), {"forward_to_number": "8005550142"})
    number.refresh_from_db()
    assert number.forward_to_number == "+18005550142"


def test_read_only_roles_and_agents_are_refused(login_as, people, tenants):
    number = factories.TrackedPhoneNumberFactory(client=tenants.client_a, campaign=None)
    for person in (people.client_user, people.agency_user):
        browser = login_as(person, select=tenants.client_a)
        for url in (NUMBERS, SEARCH, _number(number), _number(number, "release"), TWILIO):
            assert browser.get(url).status_code == 403, (person, url)
        assert browser.post(_number(number, "release")).status_code == 403
        assert browser.post(BUY, {"phone_number": "+14155550101"}).status_code == 403
        assert "Phone numbers" not in browser.get("/app/").content.decode()
    agent = login_as(people.agent)
    assert agent.get(NUMBERS)["Location"] == "/app/calls/"  # agents work in the call pages
    assert agent.post(_number(number, "release")).status_code == 403
    assert agent.post(_number(number, "forward"), {"forward_to_number": ""}).status_code == 403
    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.AVAILABLE and number.forward_to_number


def test_another_tenants_number_is_not_found(login_as, people, tenants):
    number = factories.TrackedPhoneNumberFactory(client=tenants.client_a, campaign=None)
    browser = login_as(people.other_client_admin)
    for action in ("", "release", "assign", "unassign", "forward"):
        assert browser.post(_number(number, action)).status_code in (404, 405)
    assert browser.get(_number(number)).status_code == 404
    number.refresh_from_db()
    assert number.status == TrackedNumberStatus.AVAILABLE


# --- The Twilio account page ---------------------------------------------------------------------


def test_a_client_admin_sets_the_clients_account_and_the_token_is_never_shown(
    login_as, people, tenants
):
    browser = login_as(people.client_admin)
    page = browser.get(TWILIO).content.decode()
    assert "Mike&#x27;s Twilio account" in page or "Mike's Twilio account" in page
    assert "Agency A" not in page  # a client admin does not manage the agency's account

    response = browser.post(
        TWILIO,
        {"organization": "client", "client-account_sid": CLIENT_SID, "client-auth_token": TOKEN},
        follow=True,
    )
    assert "Client A's Twilio account is saved." in _messages(response)
    page = response.content.decode()
    assert TOKEN not in page and "•••• cdef" in page
    assert _in_use(tenants.client_a).account_sid == CLIENT_SID
    stored = Organization.objects.get(pk=tenants.client_a.pk)
    assert stored.twilio_credentials_changed_by == people.client_admin

    response = browser.post(TWILIO, {"organization": "client", "action": "remove"}, follow=True)
    assert "Client A's own Twilio account is removed." in _messages(response)
    assert _in_use(tenants.client_a).source == "platform"


def test_a_bad_sid_is_a_field_error_and_nothing_is_saved(login_as, people, tenants):
    response = login_as(people.client_admin).post(
        TWILIO, {"organization": "client", "client-account_sid": "AC12", "client-auth_token": TOKEN}
    )
    assert response.status_code == 200
    assert "AC followed by 32" in response.content.decode()
    assert not Organization.objects.get(pk=tenants.client_a.pk).twilio_account_sid


def test_an_agency_admin_sets_the_agencys_account(login_as, people, tenants):
    browser = login_as(people.agency_admin, select=tenants.client_a)
    assert "Agency A" in browser.get(TWILIO).content.decode()
    browser.post(
        TWILIO,
        {"organization": "agency", "agency-account_sid": AGENCY_SID, "agency-auth_token": TOKEN},
    )
    assert _in_use(tenants.client_a).account_sid == AGENCY_SID
    assert _in_use(tenants.client_a2).account_sid == AGENCY_SID


def test_a_client_admin_cannot_post_to_the_agencys_account(login_as, people, tenants):
    response = login_as(people.client_admin).post(
        TWILIO,
        {"organization": "agency", "agency-account_sid": AGENCY_SID, "agency-auth_token": TOKEN},
        follow=True,
    )
    assert "Your role may not change that Twilio account." in _messages(response)
    assert not Organization.objects.get(pk=tenants.agency_a.pk).twilio_account_sid


def test_the_numbers_pages_name_the_account_in_use(login_as, people, tenants, twilio_numbers):
    set_twilio_credentials(
        organization=tenants.client_a, account_sid=CLIENT_SID, auth_token=TOKEN, by=None
    )
    twilio_numbers.add_account(CLIENT_SID, TOKEN)
    browser = login_as(people.client_admin)
    assert "Client A&#x27;s own Twilio account" in browser.get(NUMBERS).content.decode()
    browser.get(SEARCH, {"area_code": "415"})
    (request,) = twilio_numbers.requests
    assert request["auth_user"] == CLIENT_SID and request["auth_matches"]
