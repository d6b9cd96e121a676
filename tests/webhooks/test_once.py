"""A delivery is posted at most once per attempt, however many workers are handed its task, and
a resend makes one new delivery per click."""

import pytest
from django.db import connections
from django.utils import timezone

from mike import webhooks
from mike.webhooks import sending
from mike.webhooks.catalogue import WebhookEventType
from mike.webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEvent
from mike.webhooks.services import ResendRefused, resend_delivery, update_subscription
from mike.webhooks.timing import give_up_at
from tests.rewards.concurrency import in_thread


@pytest.mark.django_db(transaction=True)
def test_two_workers_given_the_same_delivery_post_it_once(
    httpserver, receiver, subscribe, client_org
):
    subscription = subscribe()
    receiver.delay = 0.5  # the first worker is still waiting for the answer when the second runs
    # The rows as emit writes them, without the eager task it would run at commit.
    event = WebhookEvent.objects.create(
        client=client_org, event_type=WebhookEventType.CONDITION_MET, payload={}
    )
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event=event,
        next_attempt_at=timezone.now(),
        give_up_at=give_up_at(timezone.now()),
    )
    first = in_thread(lambda: sending.send(delivery.pk))
    second = in_thread(lambda: sending.send(delivery.pk))
    first.join()
    second.join()
    assert first.errors == [] and second.errors == []
    assert sorted(first.results + second.results) == ["busy", "succeeded"]
    assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery.attempts_made.count() == 1
    connections.close_all()


@pytest.mark.django_db
def test_a_resend_is_a_new_delivery_of_the_same_event_once_per_click(
    subscribe, receiver, client_org, django_capture_on_commit_callbacks
):
    subscribe()
    with django_capture_on_commit_callbacks(execute=True):
        event = webhooks.emit(WebhookEventType.CONDITION_MET, client=client_org, payload={"a": 1})
    original = WebhookDelivery.objects.get(event=event)
    with django_capture_on_commit_callbacks(execute=True):
        again = resend_delivery(delivery=original, key="click-1")
        double = resend_delivery(delivery=original, key="click-1")
    assert again == double
    assert again.pk != original.pk and again.resent_from_id == original.pk
    assert WebhookDelivery.objects.filter(event=event).count() == 2
    assert len(receiver.received) == 2
    first, second = receiver.received
    assert first.json == second.json  # the same event, its id included
    assert first.headers["X-Mike-Delivery"] != second.headers["X-Mike-Delivery"]
    again.refresh_from_db()
    assert again.status == WebhookDeliveryStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_disabled_subscription_is_not_resent_to(
    subscribe, client_org, django_capture_on_commit_callbacks
):
    subscription = subscribe()
    with django_capture_on_commit_callbacks(execute=True):
        event = webhooks.emit(WebhookEventType.CONDITION_MET, client=client_org, payload={})
    update_subscription(subscription=subscription, is_active=False)
    with pytest.raises(ResendRefused, match="Enable the webhook"):
        resend_delivery(delivery=WebhookDelivery.objects.get(event=event))


@pytest.mark.django_db
def test_a_delivery_still_being_tried_is_not_resent(subscribe, client_org):
    subscribe()
    event = webhooks.emit(WebhookEventType.CONDITION_MET, client=client_org, payload={})
    pending = WebhookDelivery.objects.get(event=event)  # its send waits for the commit
    with pytest.raises(ResendRefused, match="being sent now"):
        resend_delivery(delivery=pending)
    assert WebhookDelivery.objects.count() == 1
