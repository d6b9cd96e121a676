"""Staff set and remove an organization's own Twilio account through admin actions (the
service), never through the change form; the token is shown masked."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry

from mike.accounts.models import Organization
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/accounts/organization/"
SID = "AC" + "c" * 32
TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def staff(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


def _act(staff, action, orgs, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in orgs], **extra}
    return staff.post(CHANGELIST, data, follow=True)


def test_staff_set_the_account_through_the_action_and_see_it_masked(staff):
    org = factories.ClientFactory()
    page = _act(staff, "set_twilio_account", [org])
    assert "admin/action_form.html" in [t.name for t in page.templates]

    _act(staff, "set_twilio_account", [org], apply="1", account_sid=SID, auth_token=TOKEN)

    stored = Organization.objects.get(pk=org.pk)
    assert stored.twilio_account_sid == SID and stored.twilio_auth_token_last4 == "cdef"
    assert LogEntry.objects.filter(object_id=str(org.pk)).exists()
    change = staff.get(f"{CHANGELIST}{org.pk}/change/").content.decode()
    assert "•••• cdef" in change and TOKEN not in change and SID in change


def test_a_refused_account_is_a_message_and_nothing_changes(staff):
    org = factories.ClientFactory()
    response = _act(
        staff, "set_twilio_account", [org], apply="1", account_sid="AC1", auth_token=TOKEN
    )
    assert "AC followed by 32" in response.content.decode()
    assert not Organization.objects.get(pk=org.pk).twilio_account_sid


def test_the_change_form_cannot_write_the_account(staff):
    org = factories.ClientFactory(name="Bayside", slug="bayside")
    page = staff.get(f"{CHANGELIST}{org.pk}/change/")
    form = page.context["adminform"].form
    assert "twilio_account_sid" not in form.fields
    assert "twilio_auth_token_encrypted" not in form.fields


def test_staff_remove_accounts(staff):
    from mike.accounts.twilio_accounts import set_twilio_credentials

    org = factories.AgencyFactory()
    set_twilio_credentials(organization=org, account_sid=SID, auth_token=TOKEN, by=None)
    _act(staff, "remove_twilio_account", [org, factories.ClientFactory()])
    assert not Organization.objects.get(pk=org.pk).twilio_account_sid
