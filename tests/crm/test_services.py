"""Integrations: created from a preset, refused per field, their secret rotated with a grace
period."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import CrmProvider
from crm.presets import PRESETS
from crm.services import (
    IntegrationRefused,
    accepted_secrets,
    create_integration,
    grace_ends,
    rotate_webhook_secret,
)
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_new_integration_reads_as_its_preset_and_has_its_own_url_and_secret(world):
    one = create_integration(client=world.client, crm_provider=CrmProvider.GOHIGHLEVEL)
    two = create_integration(client=world.client, crm_provider=CrmProvider.GOHIGHLEVEL)

    assert one.field_mappings == PRESETS[CrmProvider.GOHIGHLEVEL].field_mappings
    assert one.webhook_token != two.webhook_token
    assert one.webhook_secret != two.webhook_secret and len(one.webhook_secret) == 64


def test_an_integration_the_model_refuses_is_refused_per_field(world):
    with pytest.raises(IntegrationRefused) as refused:
        create_integration(client=world.client, crm_provider="zapier", name="x" * 201)

    assert "name" in refused.value.errors


@pytest.mark.parametrize(
    ("mappings", "field"),
    [
        ({"event_name": "event"}, "phone"),
        ({"phone": "phone"}, "event_name"),
        ({"event_name": "event", "phone": "phone", "shoe_size": "x"}, "shoe_size"),
    ],
)
def test_mappings_that_cannot_work_are_refused(world, mappings, field):
    with pytest.raises(IntegrationRefused) as refused:
        create_integration(client=world.client, crm_provider="custom", field_mappings=mappings)

    assert field in refused.value.errors


def test_another_clients_campaign_is_refused(world):
    theirs = factories.CampaignFactory()

    with pytest.raises(IntegrationRefused) as refused:
        create_integration(client=world.client, crm_provider="zapier", campaign=theirs)

    assert "campaign" in refused.value.errors


def test_event_names_need_both_sides(world):
    with pytest.raises(IntegrationRefused) as refused:
        create_integration(
            client=world.client, crm_provider="zapier", event_mappings={"Booked": ""}
        )

    assert "event_mappings" in refused.value.errors


def test_the_previous_secret_is_accepted_until_its_grace_ends(world, settings):
    settings.CRM_WEBHOOK_SECRET_GRACE_HOURS = 24
    first = world.integration.webhook_secret
    rotated = rotate_webhook_secret(integration=world.integration)
    now = timezone.now()

    assert accepted_secrets(rotated, now) == [rotated.webhook_secret, first]
    assert grace_ends(rotated, now) == rotated.secret_rotated_at + timedelta(hours=24)
    later = now + timedelta(hours=25)
    assert accepted_secrets(rotated, later) == [rotated.webhook_secret]
    assert grace_ends(rotated, later) is None


def test_rotating_twice_retires_the_first_secret_at_once(world):
    first = world.integration.webhook_secret
    second = rotate_webhook_secret(integration=world.integration).webhook_secret
    third = rotate_webhook_secret(integration=world.integration)

    assert accepted_secrets(third) == [third.webhook_secret, second]
    assert first not in accepted_secrets(third)
