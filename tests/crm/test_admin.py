"""The CRM events in the admin: every field read-only, and a reprocess action that goes through
the same service as the dashboard."""

import pytest
from django.urls import reverse

from calls.models import CallConditionMet
from crm.models import CrmEvent
from crm.services import record_event
from mike.rewards.crm_events import process_crm_event
from tests import factories
from tests.crm.conftest import zapier_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


def test_reprocess_action_meets_the_condition_once_the_recipient_exists(
    world, staff_client, django_capture_on_commit_callbacks
):
    event, _ = record_event(
        integration=world.integration, payload=zapier_event(phone="5552016666"), signed_at=1
    )
    process_crm_event(event.pk)
    factories.RecipientFactory(campaign=world.campaign, phone="+15552016666")

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:crm_crmevent_changelist"),
            {"action": "reprocess", "_selected_action": [str(event.pk)]},
        )

    assert response.status_code == 302
    event.refresh_from_db()
    assert event.outcome == "processed" and event.condition_triggered == 1
    assert CallConditionMet.objects.count() == 1


def test_an_event_cannot_be_changed_in_the_admin(world, staff_client):
    event, _ = record_event(integration=world.integration, payload=zapier_event(), signed_at=1)
    url = reverse("admin:crm_crmevent_change", args=[event.pk])

    page = staff_client.get(url)
    staff_client.post(url, {"processed": "on", "matched": "on", "error_message": "edited"})

    assert page.status_code == 200
    assert b'name="processed"' not in page.content
    event.refresh_from_db()
    assert not event.processed and event.error_message == ""
    assert staff_client.get(reverse("admin:crm_crmevent_add")).status_code == 403
    assert CrmEvent.objects.count() == 1


def test_the_integration_admin_never_shows_the_secret(world, staff_client):
    page = staff_client.get(reverse("admin:crm_crmintegration_change", args=[world.integration.pk]))

    assert page.status_code == 200
    assert world.integration.webhook_secret.encode() not in page.content
