"""Who may create, see and revoke API keys, and the record a revocation leaves."""

import pytest
from django.db import connection, transaction

from mike.accounts.models import ApiKey, Role
from mike.accounts.services import (
    ApiKeyRefused,
    authenticate_api_key,
    create_api_key,
    grant_role,
    revoke_api_key,
)
from tests.factories import AgencyFactory, ClientFactory, UserFactory
from tests.rewards.concurrency import another_backend_waits_for_a_lock, in_thread


def person(role, organization):
    user = UserFactory()
    grant_role(user=user, role=role, organization=organization)
    return user


@pytest.fixture
def orgs(db):
    agency = AgencyFactory()
    return {
        "agency": agency,
        "client": ClientFactory(parent=agency),
        "other": ClientFactory(parent=AgencyFactory()),
    }


def test_live_keys_say_live_and_test_keys_say_test(orgs):
    live, raw_live = create_api_key(organization=orgs["client"], name="live")
    test, raw_test = create_api_key(organization=orgs["client"], name="test", is_test=True)
    assert raw_live.startswith(f"mk_live_{live.key_prefix}_")
    assert raw_test.startswith(f"mk_test_{test.key_prefix}_")
    assert live.display_prefix == f"mk_live_{live.key_prefix}…"
    assert authenticate_api_key(raw_live) == live and authenticate_api_key(raw_test) == test


def test_each_role_sees_the_keys_it_manages(orgs):
    agency_key, _ = create_api_key(organization=orgs["agency"], name="agency")
    client_key, _ = create_api_key(organization=orgs["client"], name="client")
    other_key, _ = create_api_key(organization=orgs["other"], name="other")
    seen = {
        role: set(ApiKey.objects.manageable_by(person(role, org)))
        for role, org in (
            (Role.AGENCY_ADMIN, orgs["agency"]),
            (Role.AGENCY_USER, orgs["agency"]),
            (Role.CLIENT_ADMIN, orgs["client"]),
            (Role.CLIENT_USER, orgs["client"]),
            (Role.CALL_CENTER_AGENT, orgs["client"]),
        )
    }
    assert seen == {
        Role.AGENCY_ADMIN: {agency_key, client_key},
        Role.AGENCY_USER: set(),
        Role.CLIENT_ADMIN: {client_key},
        Role.CLIENT_USER: set(),
        Role.CALL_CENTER_AGENT: set(),
    }
    assert set(ApiKey.objects.manageable_by(UserFactory(is_staff=True))) == {
        agency_key,
        client_key,
        other_key,
    }


def test_a_person_who_may_not_manage_the_organization_is_refused(orgs):
    client_user = person(Role.CLIENT_USER, orgs["client"])
    client_admin = person(Role.CLIENT_ADMIN, orgs["client"])
    with pytest.raises(ApiKeyRefused):
        create_api_key(organization=orgs["client"], name="x", created_by=client_user)
    with pytest.raises(ApiKeyRefused):
        create_api_key(organization=orgs["agency"], name="x", created_by=client_admin)
    api_key, _ = create_api_key(organization=orgs["client"], name="x", created_by=client_admin)
    with pytest.raises(ApiKeyRefused):
        revoke_api_key(api_key=api_key, by=person(Role.CLIENT_ADMIN, orgs["other"]))
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None


def test_revoking_records_who_and_when_once(orgs):
    first_admin = person(Role.CLIENT_ADMIN, orgs["client"])
    second_admin = person(Role.AGENCY_ADMIN, orgs["agency"])
    api_key, raw = create_api_key(organization=orgs["client"], name="x")
    revoke_api_key(api_key=api_key, by=first_admin)
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.revoked_by == first_admin and stored.status == "revoked"
    revoke_api_key(api_key=api_key, by=second_admin)
    again = ApiKey.objects.get(pk=api_key.pk)
    assert (again.revoked_at, again.revoked_by) == (stored.revoked_at, first_admin)
    assert authenticate_api_key(raw) is None


@pytest.mark.django_db(transaction=True)
def test_two_revocations_at_once_record_the_first():
    client = ClientFactory()
    first, second = person(Role.CLIENT_ADMIN, client), person(Role.CLIENT_ADMIN, client)
    api_key, _ = create_api_key(organization=client, name="x")
    with transaction.atomic():
        revoke_api_key(api_key=api_key, by=first)
        run = in_thread(
            lambda: revoke_api_key(api_key=ApiKey.objects.get(pk=api_key.pk), by=second)
        )
        with connection.cursor() as cursor:
            assert another_backend_waits_for_a_lock(cursor)
    run.join()
    assert not run.errors
    assert run.results[0].revoked_by == first
    assert ApiKey.objects.get(pk=api_key.pk).revoked_by == first


def test_the_admin_creates_keys_through_the_service_and_revokes_with_a_record(client, orgs):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.post(
        "/admin/accounts/apikey/add/",
        {
            "organization": str(orgs["client"].pk),
            "name": "Sandbox",
            "scopes": '["read", "write"]',
            "is_test": "on",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    api_key = ApiKey.objects.get(name="Sandbox")
    assert api_key.is_test and api_key.created_by == staff
    change = client.get(f"/admin/accounts/apikey/{api_key.pk}/change/").context["adminform"]
    assert {"organization", "is_test", "scopes", "expires_at", "revoked_by"} <= set(
        change.readonly_fields
    )

    client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_keys", "_selected_action": [str(api_key.pk)]},
    )
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None and api_key.revoked_by == staff
