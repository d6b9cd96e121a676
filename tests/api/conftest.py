import json
from decimal import Decimal

import pytest
from django.test import Client

from campaigns.models import CampaignStatus
from mike.accounts.services import create_api_key
from tests.factories import (
    AudienceFactory,
    CampaignConditionFactory,
    CampaignFactory,
    ClientFactory,
)


class Api:
    """A JSON client holding one API key."""

    def __init__(self, raw_key: str | None, api_key=None):
        self.raw_key = raw_key
        self.key = api_key
        self.http = Client()

    def headers(self, extra):
        headers = {}
        if self.raw_key:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {self.raw_key}"
        headers.update(extra)
        return headers

    def get(self, path, params=None, **extra):
        return self.http.get(f"/api/v1/{path}", params or {}, **self.headers(extra))

    def post(self, path, body=None, idempotency_key=None, **extra):
        if idempotency_key:
            extra["HTTP_IDEMPOTENCY_KEY"] = idempotency_key
        return self.http.post(
            f"/api/v1/{path}",
            json.dumps(body if body is not None else {}),
            content_type="application/json",
            **self.headers(extra),
        )

    def put(self, path, body=None, **extra):
        return self.http.put(
            f"/api/v1/{path}",
            json.dumps(body or {}),
            content_type="application/json",
            **self.headers(extra),
        )

    def delete(self, path, **extra):
        return self.http.delete(f"/api/v1/{path}", **self.headers(extra))

    def patch(self, path, body=None, **extra):
        return self.http.patch(
            f"/api/v1/{path}",
            json.dumps(body or {}),
            content_type="application/json",
            **self.headers(extra),
        )


def api_for(organization, *, scopes=("read", "write"), is_test=False) -> Api:
    api_key, raw = create_api_key(
        organization=organization, name="test", scopes=list(scopes), is_test=is_test
    )
    return Api(raw, api_key)


@pytest.fixture
def client_org():
    return ClientFactory(name="Summit Roofing")


@pytest.fixture
def api(client_org):
    return api_for(client_org)


@pytest.fixture
def test_api(client_org):
    return api_for(client_org, is_test=True)


@pytest.fixture
def read_api(client_org):
    return api_for(client_org, scopes=("read",))


@pytest.fixture
def mailed_campaign(client_org):
    campaign = CampaignFactory(
        client=client_org,
        audience=AudienceFactory(client=client_org),
        status=CampaignStatus.MAILED,
    )
    CampaignConditionFactory(campaign=campaign, card_value=Decimal("25.00"))
    return campaign
