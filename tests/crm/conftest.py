"""A campaign whose first condition a CRM event meets, a recipient of it, an integration of its
client, and `post_event` to send that integration a signed request as a CRM would."""

import json
import time
from dataclasses import dataclass

import pytest
from django.urls import reverse

from campaigns.models import CampaignStatus, TriggerType
from crm.models import CrmIntegration, CrmProvider
from crm.services import create_integration
from mike.core.signing import signature_header
from tests import factories
from tests.dashboard.conftest import login_as, people, tenants  # noqa: F401  (fixtures)


@dataclass
class World:
    client: object
    campaign: object
    condition: object
    recipient: object
    integration: CrmIntegration


@pytest.fixture
def world(db) -> World:
    client = factories.ClientFactory(name="Summit Roofing")
    campaign = factories.CampaignFactory(client=client, status=CampaignStatus.MAILED)
    condition = factories.CampaignConditionFactory(
        campaign=campaign,
        condition_number=1,
        trigger_type=TriggerType.CRM_WEBHOOK,
        crm_event_name="appointment_booked",
    )
    recipient = factories.RecipientFactory(
        campaign=campaign, phone="+15552010001", email="Ada.Lovelace@Example.com"
    )
    integration = create_integration(client=client, crm_provider=CrmProvider.ZAPIER)
    return World(client, campaign, condition, recipient, integration)


def body_of(payload) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


@pytest.fixture
def post_event(client):
    """POST `payload` (an object, a list, or raw bytes) to `integration`'s webhook, signed with
    its secret now (or `secret`/`timestamp`/`header` as given)."""

    def post(integration, payload, *, secret=None, timestamp=None, header=None):
        body = body_of(payload)
        if header is None:
            stamp = int(time.time()) if timestamp is None else timestamp
            header = signature_header(secret or integration.webhook_secret, body, stamp)
        extra = {"HTTP_X_MIKE_SIGNATURE": header} if header else {}
        url = reverse("crm-webhook", kwargs={"webhook_token": integration.webhook_token})
        return client.post(url, body, content_type="application/json", **extra)

    return post


def zapier_event(event_id="evt-1", event="appointment_booked", **fields):
    return {"id": event_id, "event": event, **fields}
