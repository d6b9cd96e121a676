"""The admin shows webhooks read-only; its actions go through the services."""

import pytest
from django.urls import reverse

from mike.webhooks.models import WebhookDelivery
from mike.webhooks.services import send_test_event, update_subscription

pytestmark = pytest.mark.django_db


def test_pages_open_and_state_is_read_only(admin_client, subscribe):
    subscription = subscribe()
    delivery = send_test_event(subscription=subscription)
    for name, obj in (
        ("webhooks_webhooksubscription", subscription),
        ("webhooks_webhookdelivery", delivery),
        ("webhooks_webhookevent", delivery.event),
    ):
        assert admin_client.get(reverse(f"admin:{name}_changelist")).status_code == 200
        page = admin_client.get(reverse(f"admin:{name}_change", args=[obj.pk]))
        assert page.status_code == 200
        assert b'name="_save"' not in page.content
    page = admin_client.get(
        reverse("admin:webhooks_webhooksubscription_change", args=[subscription.pk])
    )
    assert subscription.secret.encode() not in page.content


def test_admin_actions_enable_and_resend_through_the_services(
    admin_client, subscribe, django_capture_on_commit_callbacks
):
    subscription = subscribe()
    with django_capture_on_commit_callbacks(execute=True):
        delivery = send_test_event(subscription=subscription)
    update_subscription(subscription=subscription, is_active=False)
    admin_client.post(
        reverse("admin:webhooks_webhooksubscription_changelist"),
        {"action": "enable", "_selected_action": [str(subscription.pk)]},
    )
    subscription.refresh_from_db()
    assert subscription.is_active
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:webhooks_webhookdelivery_changelist"),
            {"action": "resend", "_selected_action": [str(delivery.pk)]},
        )
    assert WebhookDelivery.objects.filter(resent_from=delivery).count() == 1
