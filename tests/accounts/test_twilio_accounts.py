"""Organizations' own Twilio accounts: the hierarchy (client, agency, platform), the token kept
encrypted and shown masked, who may set them, and what is refused."""

import pytest

from mike.accounts.models import Organization, Role
from mike.accounts.services import grant_role
from mike.accounts.twilio_accounts import (
    Source,
    TwilioCredentialsRefused,
    clear_twilio_credentials,
    credentials_for,
    masked_token,
    set_twilio_credentials,
)
from mike.core import crypto
from tests import factories
from tests.fakes import twilio as fake_twilio

pytestmark = pytest.mark.django_db

SID = "AC" + "c" * 32
TOKEN = "0123456789abcdef0123456789abcdef"
AGENCY_SID = "AC" + "a" * 32


def _set(org, sid=SID, token=TOKEN, by=None):
    return set_twilio_credentials(organization=org, account_sid=sid, auth_token=token, by=by)


def test_the_client_uses_its_own_then_its_agencys_then_the_platforms_account():
    agency = factories.AgencyFactory()
    client = factories.ClientFactory(parent=agency)
    assert credentials_for(client).source == Source.PLATFORM
    assert credentials_for(client).account_sid == fake_twilio.ACCOUNT_SID

    _set(agency, sid=AGENCY_SID)
    found = credentials_for(client)
    assert (found.source, found.account_sid, found.auth_token) == (Source.AGENCY, AGENCY_SID, TOKEN)
    assert found.organization == agency

    _set(client, token="f" * 32)
    found = credentials_for(client)
    assert (found.source, found.account_sid, found.auth_token) == (Source.CLIENT, SID, "f" * 32)
    assert TOKEN not in repr(found) and "f" * 32 not in repr(found)

    clear_twilio_credentials(organization=client, by=None)
    assert credentials_for(client).source == Source.AGENCY


def test_a_client_without_an_agency_and_no_platform_account_is_not_configured(settings):
    settings.TWILIO_ACCOUNT_SID = settings.TWILIO_AUTH_TOKEN = ""
    client = factories.ClientFactory(parent=None)
    assert not credentials_for(client).is_configured


def test_the_token_is_stored_encrypted_and_shown_masked():
    client = factories.ClientFactory()
    _set(client)
    row = Organization.objects.get(pk=client.pk)
    assert TOKEN not in row.twilio_auth_token_encrypted
    assert crypto.decrypt(row.twilio_auth_token_encrypted) == TOKEN
    assert masked_token(row) == "•••• cdef"
    assert row.twilio_credentials_changed_at is not None


def test_a_blank_token_keeps_the_stored_one_but_a_new_sid_needs_its_token():
    client = factories.ClientFactory()
    _set(client)
    _set(client, token="")
    assert credentials_for(client).auth_token == TOKEN
    with pytest.raises(TwilioCredentialsRefused, match="Enter the auth token"):
        _set(client, sid="AC" + "d" * 32, token="")


@pytest.mark.parametrize(
    ("sid", "token", "message"),
    [
        ("AC123", TOKEN, "AC followed by 32"),
        ("PN" + "c" * 32, TOKEN, "AC followed by 32"),
        (fake_twilio.ACCOUNT_SID, TOKEN, "Mike's own Twilio account"),
        (SID, "not a token!", "letters and digits"),
    ],
)
def test_malformed_or_platform_credentials_are_refused(sid, token, message):
    client = factories.ClientFactory()
    with pytest.raises(TwilioCredentialsRefused, match=message):
        _set(client, sid=sid, token=token)
    assert not Organization.objects.get(pk=client.pk).twilio_account_sid


def test_one_account_belongs_to_one_organization():
    _set(factories.ClientFactory())
    other = factories.ClientFactory()
    with pytest.raises(TwilioCredentialsRefused, match="Another organization"):
        _set(other)


def test_client_and_agency_admins_may_set_them_and_others_may_not():
    agency = factories.AgencyFactory()
    client = factories.ClientFactory(parent=agency)
    people = {}
    for role, org in (
        (Role.CLIENT_ADMIN, client),
        (Role.CLIENT_USER, client),
        (Role.CALL_CENTER_AGENT, client),
        (Role.AGENCY_ADMIN, agency),
        (Role.AGENCY_USER, agency),
    ):
        people[role] = factories.UserFactory()
        grant_role(user=people[role], role=role, organization=org)

    _set(client, by=people[Role.CLIENT_ADMIN])
    _set(client, by=people[Role.AGENCY_ADMIN])
    _set(agency, sid=AGENCY_SID, by=people[Role.AGENCY_ADMIN])
    _set(agency, sid=AGENCY_SID, by=factories.UserFactory(is_staff=True))
    for role in (Role.CLIENT_USER, Role.CALL_CENTER_AGENT, Role.AGENCY_USER):
        with pytest.raises(TwilioCredentialsRefused, match="may not change"):
            _set(client, by=people[role])
    with pytest.raises(TwilioCredentialsRefused, match="may not change"):
        _set(agency, sid=AGENCY_SID, by=people[Role.CLIENT_ADMIN])
    with pytest.raises(TwilioCredentialsRefused, match="may not change"):
        clear_twilio_credentials(organization=client, by=people[Role.CLIENT_USER])
    assert credentials_for(client).account_sid == SID
