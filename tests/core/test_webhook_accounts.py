"""Twilio webhooks are checked with the token of the account that sent them (its `AccountSid`):
the platform's, a client's own subaccount or its agency's. An account nobody has, a signature
made with another account's token, or an organization's account signing for a number that is
not its own are all refused with nothing written."""

import pytest

from calls.models import CallSession, CallStatus
from mike.accounts.twilio_accounts import auth_token_for_account, set_twilio_credentials
from mike.core.webhooks import auth_token_for
from tests import factories
from tests.fakes import twilio as fake_twilio

pytestmark = pytest.mark.django_db

VOICE = "/hooks/twilio/voice/"
STATUS = "/hooks/twilio/voice/status/"
SMS_STATUS = "/hooks/twilio/sms/status/"
CLIENT_SID = "AC" + "c" * 32
CLIENT_TOKEN = "c1" * 16
AGENCY_SID = "AC" + "a" * 32
AGENCY_TOKEN = "a1" * 16
TRACKED = "+18005551234"


@pytest.fixture
def agency():
    org = factories.AgencyFactory()
    set_twilio_credentials(
        organization=org, account_sid=AGENCY_SID, auth_token=AGENCY_TOKEN, by=None
    )
    return org


@pytest.fixture
def client_org(agency):
    org = factories.ClientFactory(parent=agency)
    set_twilio_credentials(
        organization=org, account_sid=CLIENT_SID, auth_token=CLIENT_TOKEN, by=None
    )
    return org


@pytest.fixture
def tracked(client_org):
    campaign = factories.CampaignFactory(client=client_org)
    return factories.TrackedPhoneNumberFactory(
        campaign=campaign, phone_number=TRACKED, forward_to_number="+18005559999"
    )


def _post(client, path, params, token):
    sig = fake_twilio.signature(f"http://testserver{path}", params, token)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=sig)


def _call(sid="CA0001", account=None):
    params = {"CallSid": sid, "From": "+15552010001", "To": TRACKED, "CallStatus": "ringing"}
    if account is not None:
        params["AccountSid"] = account
    return params


def test_each_account_sid_finds_its_own_token(client_org, agency):
    assert auth_token_for("") == fake_twilio.AUTH_TOKEN
    assert auth_token_for(fake_twilio.ACCOUNT_SID) == fake_twilio.AUTH_TOKEN
    assert auth_token_for(CLIENT_SID) == CLIENT_TOKEN
    assert auth_token_for(AGENCY_SID) == AGENCY_TOKEN
    assert auth_token_for("AC" + "9" * 32) is None
    assert auth_token_for_account("") is None


def test_a_call_signed_by_the_clients_own_account_is_taken(client, tracked):
    response = _post(client, VOICE, _call(account=CLIENT_SID), CLIENT_TOKEN)
    assert response.status_code == 200
    assert CallSession.objects.get().tracked_number == tracked


def test_a_call_signed_by_the_clients_agency_account_is_taken(client, tracked):
    assert _post(client, VOICE, _call(account=AGENCY_SID), AGENCY_TOKEN).status_code == 200
    assert CallSession.objects.count() == 1


@pytest.mark.parametrize("account", [fake_twilio.ACCOUNT_SID, None], ids=["named", "unnamed"])
def test_the_platforms_account_is_still_taken_with_or_without_account_sid(client, tracked, account):
    assert _post(client, VOICE, _call(account=account), fake_twilio.AUTH_TOKEN).status_code == 200
    assert CallSession.objects.count() == 1


def test_an_account_nobody_has_is_refused(client, tracked):
    response = _post(client, VOICE, _call(account="AC" + "9" * 32), fake_twilio.AUTH_TOKEN)
    assert response.status_code == 403
    assert not CallSession.objects.exists()


@pytest.mark.parametrize(
    ("account", "token"),
    [
        (CLIENT_SID, fake_twilio.AUTH_TOKEN),  # the platform's token for the client's account
        (CLIENT_SID, AGENCY_TOKEN),
        (fake_twilio.ACCOUNT_SID, CLIENT_TOKEN),
        (None, CLIENT_TOKEN),  # no account named: the platform's token is expected
    ],
    ids=["platform-token", "agency-token", "client-token-for-platform", "client-token-unnamed"],
)
def test_a_valid_signature_with_another_accounts_token_is_refused(client, tracked, account, token):
    response = _post(client, VOICE, _call(account=account), token)
    assert response.status_code == 403
    assert not CallSession.objects.exists()


def test_an_organizations_account_cannot_sign_for_another_clients_number(client, tracked):
    """Client B's admins know B's own token; it must not let them ring client A's numbers."""
    other = factories.ClientFactory()
    other_sid, other_token = "AC" + "b" * 32, "b1" * 16
    set_twilio_credentials(
        organization=other, account_sid=other_sid, auth_token=other_token, by=None
    )

    response = _post(client, VOICE, _call(account=other_sid), other_token)

    assert response.status_code == 403
    assert not CallSession.objects.exists()


def test_a_status_callback_for_another_clients_call_is_refused(client, tracked):
    _post(client, VOICE, _call(account=CLIENT_SID), CLIENT_TOKEN)
    other = factories.ClientFactory()
    other_sid, other_token = "AC" + "b" * 32, "b1" * 16
    set_twilio_credentials(
        organization=other, account_sid=other_sid, auth_token=other_token, by=None
    )
    completed = {**_call(account=other_sid), "CallStatus": "completed", "CallDuration": "90"}

    assert _post(client, STATUS, completed, other_token).status_code == 403
    assert CallSession.objects.get().call_status == CallStatus.RINGING

    completed["AccountSid"] = CLIENT_SID
    assert _post(client, STATUS, completed, CLIENT_TOKEN).status_code == 200
    assert CallSession.objects.get().call_status == CallStatus.COMPLETED


def test_sms_webhooks_use_the_same_accounts(client, client_org):
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    assert (
        _post(client, SMS_STATUS, {**params, "AccountSid": CLIENT_SID}, CLIENT_TOKEN).status_code
        == 204
    )
    assert (
        _post(client, SMS_STATUS, {**params, "AccountSid": CLIENT_SID}, AGENCY_TOKEN).status_code
        == 403
    )
    assert (
        _post(
            client, SMS_STATUS, {**params, "AccountSid": "AC" + "9" * 32}, CLIENT_TOKEN
        ).status_code
        == 403
    )


def test_a_status_callback_signed_by_a_clients_own_account_moves_no_delivery(client, client_org):
    """Mike texts from the platform's account only; the client's admins know their own token,
    so a callback signed with it must not mark another client's card delivered or failed."""
    delivery = factories.GiftCardDeliveryFactory(twilio_message_sid="SM" + "7" * 32, status="sent")
    params = {
        "MessageSid": delivery.twilio_message_sid,
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
    }

    assert (
        _post(client, SMS_STATUS, {**params, "AccountSid": CLIENT_SID}, CLIENT_TOKEN).status_code
        == 204
    )
    delivery.refresh_from_db()
    assert delivery.status == "sent" and not delivery.error_message

    _post(client, SMS_STATUS, {**params, "MessageStatus": "delivered"}, fake_twilio.AUTH_TOKEN)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"  # the platform's own callback applies


def test_after_the_clients_account_is_removed_its_webhooks_are_refused(client, tracked, client_org):
    from mike.accounts.twilio_accounts import clear_twilio_credentials

    clear_twilio_credentials(organization=client_org, by=None)

    assert _post(client, VOICE, _call(account=CLIENT_SID), CLIENT_TOKEN).status_code == 403


def test_a_yes_through_a_clients_own_account_opts_in_that_clients_recipients_only(
    client, client_org, agency
):
    """The client's admins know its token: a YES signed with it cannot opt in (and so claim a
    card for) another client's recipient at the same phone."""
    phone = "+15552010077"
    ours = factories.RecipientFactory(
        campaign=factories.CampaignFactory(client=client_org),
        phone=phone,
        sms_opt_in_status="pending",
    )
    theirs = factories.RecipientFactory(phone=phone, sms_opt_in_status="pending")
    params = {
        "From": phone,
        "To": TRACKED,
        "Body": "YES",
        "MessageSid": "SM" + "5" * 32,
        "AccountSid": CLIENT_SID,
    }

    assert _post(client, "/hooks/twilio/sms/", params, CLIENT_TOKEN).status_code == 200

    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.sms_opt_in_status == "opted_in"
    assert theirs.sms_opt_in_status == "pending"
