"""Settings → Webhooks: a client admin adds a webhook, sees and rotates its secret, edits it,
sends a test event, resends a delivery (once per click), enables it after Mike disabled it, and
deletes it; a read-only user and another client's admin cannot."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from mike.webhooks.models import WebhookDelivery, WebhookSubscription
from mike.webhooks.services import create_subscription, update_subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(tenants, httpserver):
    httpserver.expect_request("/in", method="POST").respond_with_data("ok")
    subscription, secret = create_subscription(
        client=tenants.client_a, url=httpserver.url_for("/in"), events=["condition.met"]
    )
    subscription.raw_secret = secret
    return subscription


def test_a_client_admin_adds_a_webhook_and_sees_its_secret(client, people, tenants):
    client.force_login(people.client_admin)
    page = client.get(reverse("dashboard:webhook_new"))
    assert page.status_code == 200
    assert b"campaign.created" in page.content and b"form.submitted" in page.content
    answer = client.post(
        reverse("dashboard:webhook_new"),
        {"url": "https://example.com/hooks/mike", "events": ["condition.met", "sms.opt_in"]},
    )
    assert answer.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.client == tenants.client_a
    assert subscription.events == ["condition.met", "sms.opt_in"]
    assert subscription.created_by == people.client_admin
    assert subscription.secret in answer.content.decode()


def test_bad_input_is_a_field_error_and_saves_nothing(client, people):
    client.force_login(people.client_admin)
    for data, text in (
        ({"url": "https://example.com/x"}, "Choose at least one event."),
        ({"url": "gopher://example.com/x", "events": ["sms.opt_in"]}, "Enter a full URL"),
    ):
        answer = client.post(reverse("dashboard:webhook_new"), data)
        assert answer.status_code == 200
        assert text in answer.content.decode()
    assert WebhookSubscription.objects.count() == 0


def test_the_list_shows_the_clients_webhooks_only(client, people, hook, tenants):
    create_subscription(
        client=tenants.client_b, url="https://b.example.com/x", events=["sms.opt_in"]
    )
    client.force_login(people.client_admin)
    page = client.get(reverse("dashboard:webhooks")).content.decode()
    assert hook.url in page
    assert "b.example.com" not in page


def test_the_secret_is_masked_until_revealed_and_rotation_replaces_it(client, people, hook):
    client.force_login(people.client_admin)
    detail = client.get(reverse("dashboard:webhook", args=[hook.pk])).content.decode()
    assert hook.raw_secret not in detail and hook.secret_last4 in detail
    shown = client.post(reverse("dashboard:webhook_secret", args=[hook.pk]))
    assert hook.raw_secret in shown.content.decode()
    assert shown["Cache-Control"] == "no-store"
    rotated = client.post(reverse("dashboard:webhook_secret", args=[hook.pk]), {"rotate": "1"})
    hook.refresh_from_db()
    assert hook.secret != hook.raw_secret
    assert hook.secret in rotated.content.decode()


def test_editing_saves_url_and_events(client, people, hook):
    client.force_login(people.client_admin)
    answer = client.post(
        reverse("dashboard:webhook", args=[hook.pk]),
        {"url": "https://example.org/new", "events": ["call.completed"], "description": "CRM"},
    )
    assert answer.status_code == 302
    hook.refresh_from_db()
    assert (hook.url, hook.events, hook.description) == (
        "https://example.org/new",
        ["call.completed"],
        "CRM",
    )
    refused = client.post(reverse("dashboard:webhook", args=[hook.pk]), {"url": "x", "events": []})
    assert refused.status_code == 400


def test_send_test_and_resend_once_per_click(
    client, people, hook, django_capture_on_commit_callbacks
):
    client.force_login(people.client_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("dashboard:webhook_test", args=[hook.pk]))
    test_delivery = WebhookDelivery.objects.get()
    assert test_delivery.event.event_type == "webhook.test"
    assert test_delivery.status == "succeeded"
    page = client.get(reverse("dashboard:webhook", args=[hook.pk])).content.decode()
    assert "webhook.test" in page and ">200<" in page
    key = re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)
    url = reverse(
        "dashboard:webhook_resend",
        kwargs={"webhook_id": hook.pk, "webhook_delivery_id": test_delivery.pk},
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"key": key})
        client.post(url, {"key": key})  # the double click
    assert WebhookDelivery.objects.count() == 2
    resent = WebhookDelivery.objects.exclude(pk=test_delivery.pk).get()
    assert resent.resent_from == test_delivery and resent.resent_by == people.client_admin


def test_a_disabled_webhook_is_enabled_again(client, people, hook):
    update_subscription(subscription=hook, is_active=False)
    WebhookSubscription.objects.filter(pk=hook.pk).update(
        disabled_at=timezone.now(), disabled_reason="Every delivery failed"
    )
    client.force_login(people.client_admin)
    page = client.get(reverse("dashboard:webhook", args=[hook.pk])).content.decode()
    assert "Every delivery failed" in page and "Enable it again" in page
    client.post(reverse("dashboard:webhook_enable", args=[hook.pk]))
    hook.refresh_from_db()
    assert hook.is_active and hook.disabled_reason == ""


def test_delete_asks_then_deletes(client, people, hook):
    client.force_login(people.client_admin)
    assert client.get(reverse("dashboard:webhook_delete", args=[hook.pk])).status_code == 200
    assert WebhookSubscription.objects.count() == 1
    client.post(reverse("dashboard:webhook_delete", args=[hook.pk]))
    assert WebhookSubscription.objects.count() == 0


def test_a_read_only_user_cannot_open_or_change_webhooks(client, people, hook):
    client.force_login(people.client_user)
    assert client.get(reverse("dashboard:webhooks")).status_code == 403
    assert client.get(reverse("dashboard:webhook", args=[hook.pk])).status_code == 403
    assert client.post(reverse("dashboard:webhook_secret", args=[hook.pk])).status_code == 403


def test_another_clients_admin_gets_404(client, people, hook):
    client.force_login(people.other_client_admin)
    for name in ("webhook", "webhook_secret", "webhook_delete", "webhook_enable", "webhook_test"):
        assert client.post(reverse(f"dashboard:{name}", args=[hook.pk])).status_code == 404
    assert hook.raw_secret not in client.get(reverse("dashboard:webhooks")).content.decode()


def test_an_agency_admin_manages_its_clients_webhooks(client, people, hook, login_as):
    login_as(people.agency_admin, select=hook.client)
    assert client.get(reverse("dashboard:webhook", args=[hook.pk])).status_code == 200
