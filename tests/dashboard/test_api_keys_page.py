"""Settings → API keys: creating a key shows it once and it works against the API, revoking it
stops the API, and only the admins of its client or agency see or change it."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mike.accounts.models import ApiKey
from mike.accounts.services import create_api_key
from mike.dashboard.views.api_keys import SESSION_KEY
from tests import factories

LIST = "/app/settings/api-keys/"
NEW = "/app/settings/api-keys/new/"
RAW_KEY = re.compile(r"mk_(?:live|test)_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}")


def created_url(api_key):
    return f"/app/settings/api-keys/{api_key.pk}/created/"


def revoke_url(api_key):
    return f"/app/settings/api-keys/{api_key.pk}/revoke/"


def call_api(raw_key, path="campaigns/"):
    """The API as another system calls it: no session, the key as a bearer token."""
    return Client().get(f"/api/v1/{path}", HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def campaign_names(response):
    assert response.status_code == 200, response.content
    return {campaign["name"] for campaign in response.json()["results"]}


def create_through_page(browser, organization, **fields):
    data = {"organization": str(organization.pk), "name": "CRM sync", "access": "read"}
    data.update({"mode": "live", **fields})
    response = browser.post(NEW, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    api_key = ApiKey.objects.get(pk=response["Location"].rstrip("/").split("/")[-2])
    return api_key, response


def shown_key(response) -> str | None:
    found = RAW_KEY.findall(response.content.decode())
    assert len(set(found)) <= 1
    return found[0] if found else None


# --- Created and shown once -------------------------------------------------------------------


def test_a_new_key_is_shown_once_and_authenticates(login_as, people, tenants):
    factories.CampaignFactory(client=tenants.client_a, name="Spring roofing")
    factories.CampaignFactory(client=tenants.client_b, name="Not ours")
    browser = login_as(people.client_admin)
    api_key, response = create_through_page(browser, tenants.client_a, access="write")
    assert response["Location"] == created_url(api_key)
    pending = browser.session[SESSION_KEY]

    page = browser.get(response["Location"])
    assert page.status_code == 200
    raw_key = shown_key(page)
    assert raw_key and raw_key.startswith("mk_live_")
    assert "You won't see it again" in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    # Mike keeps a hash; what waited in the session for this page was encrypted, and is gone now.
    assert raw_key not in json.dumps(pending)
    assert SESSION_KEY not in browser.session
    api_key.refresh_from_db()
    assert raw_key not in (api_key.key_hash, api_key.key_prefix, api_key.name)
    assert api_key.scopes == ["read", "write"] and not api_key.is_test
    assert api_key.created_by == people.client_admin

    assert campaign_names(call_api(raw_key)) == {"Spring roofing"}


def test_reloading_the_created_page_does_not_show_the_key_again(login_as, people, tenants):
    browser = login_as(people.client_admin)
    api_key, response = create_through_page(browser, tenants.client_a)
    first = browser.get(response["Location"])
    assert shown_key(first)
    again = browser.get(response["Location"])
    assert again.status_code == 200
    assert shown_key(again) is None
    assert "cannot be shown again" in again.content.decode()
    assert api_key.display_prefix in again.content.decode()


def test_the_key_is_not_shown_on_another_keys_created_page(login_as, people, tenants):
    browser = login_as(people.client_admin)
    older, _ = create_api_key(organization=tenants.client_a, name="older")
    create_through_page(browser, tenants.client_a)
    assert shown_key(browser.get(created_url(older))) is None
    assert SESSION_KEY not in browser.session


def test_a_test_key_is_mk_test_and_listed_as_test(login_as, people, tenants):
    browser = login_as(people.client_admin)
    api_key, response = create_through_page(browser, tenants.client_a, mode="test")
    raw_key = shown_key(browser.get(response["Location"]))
    assert raw_key.startswith("mk_test_") and api_key.is_test
    listing = browser.get(LIST).content.decode()
    assert f"mk_test_{api_key.key_prefix}…" in listing
    assert '<span class="badge warn">Test</span>' in listing
    assert call_api(raw_key).status_code == 200


def test_an_expiry_in_the_past_is_refused_with_a_field_error(login_as, people, tenants):
    browser = login_as(people.client_admin)
    yesterday = timezone.localdate() - timedelta(days=1)
    response = browser.post(
        NEW,
        {
            "organization": str(tenants.client_a.pk),
            "name": "Old",
            "access": "read",
            "mode": "live",
            "expires_on": yesterday.isoformat(),
        },
    )
    assert response.status_code == 200
    assert "That date has passed" in response.content.decode()
    assert response.context["form"].errors["expires_on"]
    assert not ApiKey.objects.exists()


def test_an_expiry_date_lasts_through_that_day(login_as, people, tenants):
    browser = login_as(people.client_admin)
    day = timezone.localdate() + timedelta(days=30)
    api_key, _ = create_through_page(browser, tenants.client_a, expires_on=day.isoformat())
    assert timezone.localtime(api_key.expires_at).date() == day
    assert day.strftime("%b %-d, %Y") in browser.get(LIST).content.decode()


def test_bad_input_gets_field_errors_and_creates_nothing(login_as, people, tenants):
    browser = login_as(people.client_admin)
    response = browser.post(
        NEW,
        {"organization": str(tenants.client_a.pk), "name": "", "access": "admin", "mode": "x"},
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"name", "access", "mode"}
    assert not ApiKey.objects.exists()


# --- The list and revoking ----------------------------------------------------------------------


def test_the_list_shows_each_key_and_its_status(login_as, people, tenants):
    active, _ = create_api_key(
        organization=tenants.client_a, name="Zapier", created_by=people.client_admin
    )
    revoked, _ = create_api_key(organization=tenants.client_a, name="Old CRM")
    expired, _ = create_api_key(
        organization=tenants.client_a,
        name="Trial",
        expires_at=timezone.now() + timedelta(minutes=1),
    )
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    browser = login_as(people.client_admin)
    browser.post(revoke_url(revoked))
    page = browser.get(LIST)
    assert page.status_code == 200
    rows = {record.name: record for record in page.context["table"].data}
    assert {name: row.status for name, row in rows.items()} == {
        "Zapier": "active",
        "Old CRM": "revoked",
        "Trial": "expired",
    }
    html = page.content.decode()
    for key in (active, revoked, expired):
        assert f"mk_live_{key.key_prefix}…" in html
    assert "Revoked" in html and "Expired" in html and "Active" in html
    assert "Never" in html  # last used
    assert "/api/v1/docs/" in html and "Authorization: Bearer" in html


def test_revoking_asks_first_then_the_api_answers_401(login_as, people, tenants):
    api_key, raw_key = create_api_key(organization=tenants.client_a, name="Zapier")
    assert call_api(raw_key).status_code == 200
    browser = login_as(people.client_admin)

    confirm = browser.get(revoke_url(api_key))
    assert confirm.status_code == 200 and "Revoke the key" in confirm.content.decode()
    fragment = browser.get(revoke_url(api_key), HTTP_HX_REQUEST="true")
    assert (
        "<html" not in fragment.content.decode() and "Revoke the key" in fragment.content.decode()
    )
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None  # asking revokes nothing

    response = browser.post(revoke_url(api_key))
    assert response.status_code == 302 and response["Location"] == LIST
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None and api_key.revoked_by == people.client_admin
    answer = call_api(raw_key)
    assert answer.status_code == 401 and answer["Content-Type"] == "application/json"
    assert ApiKey.objects.filter(pk=api_key.pk).exists()  # still listed, as revoked
    assert "revoked" in browser.get(LIST).content.decode().lower()


def test_revoking_twice_keeps_the_first_revocation(login_as, people, tenants):
    api_key, _ = create_api_key(organization=tenants.client_a, name="Zapier")
    login_as(people.client_admin).post(revoke_url(api_key))
    first = ApiKey.objects.get(pk=api_key.pk).revoked_at
    login_as(people.agency_admin).post(revoke_url(api_key))
    again = ApiKey.objects.get(pk=api_key.pk)
    assert again.revoked_at == first and again.revoked_by == people.client_admin


# --- Who may --------------------------------------------------------------------------------------


def test_another_clients_admin_cannot_see_or_revoke_the_key(login_as, people, tenants):
    api_key, raw_key = create_api_key(organization=tenants.client_a, name="Client A's")
    browser = login_as(people.other_client_admin)
    assert "Client A&#x27;s" not in browser.get(LIST).content.decode()
    assert browser.get(revoke_url(api_key)).status_code == 404
    assert browser.get(created_url(api_key)).status_code == 404
    assert browser.post(revoke_url(api_key)).status_code == 404
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    assert call_api(raw_key).status_code == 200


def test_another_clients_admin_cannot_create_a_key_for_it(login_as, people, tenants):
    browser = login_as(people.other_client_admin)
    response = browser.post(
        NEW,
        {"organization": str(tenants.client_a.pk), "name": "x", "access": "read", "mode": "live"},
    )
    assert response.status_code == 200
    assert "organization" in response.context["form"].errors
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("who", ["client_user", "agency_user", "other_client_user"])
def test_a_role_that_may_not_manage_gets_403(login_as, people, tenants, who):
    api_key, _ = create_api_key(organization=tenants.client_a, name="Zapier")
    browser = login_as(getattr(people, who))
    assert browser.get(LIST).status_code == 403
    assert browser.get(NEW).status_code == 403
    data = {"organization": str(tenants.client_a.pk), "name": "x", "access": "write"}
    assert browser.post(NEW, {**data, "mode": "live"}).status_code == 403
    assert browser.post(revoke_url(api_key)).status_code in (403, 404)
    assert ApiKey.objects.count() == 1 and ApiKey.objects.get().revoked_at is None


def test_a_call_centre_agent_is_sent_to_the_calls(login_as, people):
    response = login_as(people.agent).get(LIST)
    assert response.status_code == 302 and response["Location"] == "/app/calls/"


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(LIST)
    assert response.status_code == 302 and response["Location"].startswith("/app/login/")


def test_a_client_admin_does_not_see_its_agencys_keys(login_as, people, tenants):
    agency_key, _ = create_api_key(organization=tenants.agency_a, name="Agency-wide")
    browser = login_as(people.client_admin)
    assert "Agency-wide" not in browser.get(LIST).content.decode()
    assert browser.post(revoke_url(agency_key)).status_code == 404
    # The form offers the client only (as a hidden field): not the agency.
    form = browser.get(NEW).context["form"]
    assert list(form.fields["organization"].queryset) == [tenants.client_a]


# --- Agencies -------------------------------------------------------------------------------------


def test_an_agency_admin_manages_the_agencys_and_its_clients_keys(login_as, people, tenants):
    factories.CampaignFactory(client=tenants.client_a, name="A one")
    factories.CampaignFactory(client=tenants.client_a2, name="A two")
    factories.CampaignFactory(client=tenants.client_b, name="B one")
    client_key, client_raw = create_api_key(organization=tenants.client_a, name="Client A sync")
    other_agency_key, _ = create_api_key(organization=tenants.agency_b, name="Agency B's")
    browser = login_as(people.agency_admin, select="all")

    form = browser.get(NEW).context["form"]
    assert list(form.fields["organization"].queryset) == [
        tenants.agency_a,
        tenants.client_a,
        tenants.client_a2,
    ]
    api_key, response = create_through_page(browser, tenants.agency_a, name="Agency sync")
    raw_key = shown_key(browser.get(response["Location"]))
    assert api_key.organization == tenants.agency_a
    assert campaign_names(call_api(raw_key)) == {"A one", "A two"}

    listing = browser.get(LIST).content.decode()
    assert "Agency sync" in listing and "Client A sync" in listing
    assert "Agency B&#x27;s" not in listing
    assert browser.post(revoke_url(other_agency_key)).status_code == 404

    assert browser.post(revoke_url(client_key)).status_code == 302
    assert call_api(client_raw).status_code == 401


def test_with_a_client_selected_an_agency_admin_sees_it_and_the_agency(login_as, people, tenants):
    create_api_key(organization=tenants.agency_a, name="Agency-wide")
    create_api_key(organization=tenants.client_a, name="Client A sync")
    create_api_key(organization=tenants.client_a2, name="Client A2 sync")
    browser = login_as(people.agency_admin, select=tenants.client_a)
    names = {record.name for record in browser.get(LIST).context["table"].data}
    assert names == {"Agency-wide", "Client A sync"}
    form = browser.get(NEW).context["form"]
    assert form.initial["organization"] == tenants.client_a.pk


def test_the_settings_pages_link_to_api_keys(login_as, people):
    browser = login_as(people.client_admin)
    for page in ("/app/settings/", "/app/settings/twilio/", LIST):
        assert 'href="/app/settings/api-keys/"' in browser.get(page).content.decode()
