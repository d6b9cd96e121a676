from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mike.accounts.models import ApiKey
from mike.accounts.services import authenticate_api_key, create_api_key, revoke_api_key
from tests.factories import AgencyFactory, ClientFactory

pytestmark = pytest.mark.django_db


def test_key_is_stored_hashed_and_authenticates():
    client = ClientFactory()
    api_key, raw = create_api_key(organization=client, name="CRM sync", scopes=["write"])
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert raw not in (stored.key_hash, stored.key_prefix)
    found = authenticate_api_key(raw)
    assert found == api_key and found.organization == client
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None


def test_revoked_expired_and_wrong_keys_do_not_authenticate():
    client = ClientFactory()
    api_key, raw = create_api_key(organization=client, name="a")
    revoke_api_key(api_key=api_key)
    assert authenticate_api_key(raw) is None
    old, expired = create_api_key(
        organization=client, name="b", expires_at=timezone.now() + timedelta(minutes=1)
    )
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert authenticate_api_key(expired) is None
    assert authenticate_api_key("mk_nothing_here") is None
    assert authenticate_api_key("") is None


def test_agency_key_and_test_key():
    agency_key, raw = create_api_key(organization=AgencyFactory(), name="x", is_test=True)
    assert raw.startswith("mk_test_") and agency_key.is_test
    assert agency_key.scopes == ["read"]


def test_scopes_and_expiry_are_checked():
    client = ClientFactory()
    with pytest.raises(ValidationError):
        create_api_key(organization=client, name="x", scopes=["admin"])
    with pytest.raises(ValidationError):
        create_api_key(organization=client, name="x", expires_at=timezone.now())
    key, _ = create_api_key(organization=client, name="x", scopes=["write"])
    assert key.scopes == ["read", "write"]


def test_last_used_is_written_at_most_once_a_minute():
    api_key, raw = create_api_key(organization=ClientFactory(), name="a")
    first = authenticate_api_key(raw).last_used_at
    authenticate_api_key(raw)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at == first
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=first - timedelta(minutes=2))
    assert authenticate_api_key(raw).last_used_at > first
