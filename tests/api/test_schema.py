"""The OpenAPI document against the API itself, in process: generated requests (valid and not)
for every operation never get a 500, and every answer is what the document says."""

from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from campaigns.models import CampaignStatus
from tests.api.conftest import api_for
from tests.factories import (
    AudienceFactory,
    CampaignConditionFactory,
    CampaignFactory,
    ClientFactory,
    GiftCardDeliveryFactory,
)

# What OpenAPI cannot say, said here: these operations answer a schema-valid request with 400
# when it names an object the key does not reach (a random client or campaign id) or leaves out
# both of two either-or parameters, or gives a webhook URL that is not one Mike may post to; and a POST repeating an Idempotency-Key with another body
# is a 422 (the generator reuses keys). Every other check runs as is.
#
# The key is this test's own (sent below), so the generator leaves the security header alone;
# and it invents no extra headers, which no server can tell from a proxy's (unknown query
# parameters are refused: test_access covers that), nor NUL characters, which no text column
# takes and every text field refuses with a 400. Deterministic, so a failure reproduces.
CONFIG = SchemathesisConfig.from_str(
    """
[generation]
with-security-parameters = false
allow-extra-parameters = false
allow-x00 = false
deterministic = true

[[operations]]
include-path-regex = "^/api/v1/(audiences/|audiences/[^/]+/recipients/|recipients/lookup/|webhooks/)$"
checks.positive_data_acceptance.expected-statuses = [
    "2xx", "400", "401", "403", "404", "409", "422", "429"
]

[[operations]]
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
"""
)

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application(), config=CONFIG)


@pytest.fixture
def keep_connection():
    """The WSGI handler closes the database connection around each request, which would end
    the test's transaction; Django's own test client unhooks the same signals."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def key(db, settings, keep_connection):
    settings.API_READ_RATE = settings.API_WRITE_RATE = "100000/m"
    client = ClientFactory()
    campaign = CampaignFactory(
        client=client, audience=AudienceFactory(client=client), status=CampaignStatus.MAILED
    )
    condition = CampaignConditionFactory(campaign=campaign, card_value=Decimal("10.00"))
    GiftCardDeliveryFactory(reward__condition=condition)
    return api_for(client).raw_key


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_keeps_to_the_schema(case, key):
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"})


def test_the_document_and_the_docs_page_are_served_without_a_key(client):
    document = client.get("/api/v1/schema/")
    assert document.status_code == 200 and b"openapi: 3" in document.content
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content and b"cdn" not in docs.content.lower()
