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
    api_key, raw = create_api_key(organization=client, name="CRM sync", scopes=["recipients:write"])
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
    _, expired = create_api_key(
        organization=client, name="b", expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert authenticate_api_key(expired) is None
    assert authenticate_api_key("mk_nothing_here") is None
    assert authenticate_api_key("") is None


def test_agency_cannot_hold_an_api_key():
    with pytest.raises(ValidationError):
        create_api_key(organization=AgencyFactory(), name="x")
