"""The outbox: an event is a row written in the transaction of the change, rolled back with it,
and written only for the subscriptions that want it (test data to test subscriptions only)."""

import pytest
from django.db import transaction

from campaigns.services import change_campaign_status, create_campaign
from mike import webhooks
from mike.webhooks.catalogue import WebhookEventType
from mike.webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEvent
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_change_writes_its_event_and_a_pending_delivery(subscribe, client_org):
    subscription = subscribe([WebhookEventType.CAMPAIGN_CREATED])
    campaign = create_campaign(client=client_org, by=None, name="Spring mailer")
    event = WebhookEvent.objects.get()
    assert event.event_type == "campaign.created"
    assert event.client == client_org
    assert event.payload["id"] == str(campaign.pk)
    assert event.payload["name"] == "Spring mailer"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.subscription, delivery.event) == (subscription, event)
    assert delivery.status == WebhookDeliveryStatus.PENDING
    assert delivery.attempts == 0


def test_a_rolled_back_change_leaves_no_event_and_sends_nothing(
    subscribe, client_org, receiver, django_capture_on_commit_callbacks
):
    subscribe([WebhookEventType.CAMPAIGN_CREATED])
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        create_campaign(client=client_org, by=None, name="Never")
        assert WebhookEvent.objects.count() == 1  # inside the change's transaction
        raise RuntimeError("the change fails after the event was written")
    assert WebhookEvent.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0
    assert callbacks == []
    assert receiver.received == []


def test_the_send_waits_for_the_commit(
    subscribe, client_org, receiver, django_capture_on_commit_callbacks
):
    subscribe([WebhookEventType.CAMPAIGN_CREATED])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        create_campaign(client=client_org, by=None, name="Later")
    assert receiver.received == []  # nothing is posted inside the transaction
    for callback in callbacks:
        callback()
    assert receiver.types == ["campaign.created"]


def test_without_a_subscription_emitting_costs_one_query_and_writes_nothing(
    client_org, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert (
            webhooks.emit(WebhookEventType.CONDITION_MET, client=client_org.pk, payload=dict)
            is None
        )
    assert WebhookEvent.objects.count() == 0


def test_a_lazy_payload_is_built_only_for_subscribers(subscribe, client_org):
    built = []

    def payload():
        built.append(1)
        return {"x": 1}

    webhooks.emit(WebhookEventType.CONDITION_MET, client=client_org, payload=payload)
    assert built == []
    subscribe([WebhookEventType.CONDITION_MET])
    webhooks.emit(WebhookEventType.CONDITION_MET, client=client_org, payload=payload)
    assert built == [1]
    assert WebhookEvent.objects.get().payload == {"x": 1}


def test_only_subscriptions_that_want_the_event_get_a_delivery(subscribe, client_org):
    wants = subscribe([WebhookEventType.CAMPAIGN_CREATED])
    subscribe([WebhookEventType.CONDITION_MET])
    create_campaign(client=client_org, by=None, name="One")
    assert [d.subscription for d in WebhookDelivery.objects.all()] == [wants]


def test_another_clients_subscription_gets_nothing(subscribe, client_org):
    subscribe(client=factories.ClientFactory())
    create_campaign(client=client_org, by=None, name="Mine")
    assert WebhookEvent.objects.count() == 0


def test_a_disabled_subscription_gets_nothing(subscribe, client_org):
    subscription = subscribe()
    subscription.is_active = False
    subscription.save()
    create_campaign(client=client_org, by=None, name="Quiet")
    assert WebhookEvent.objects.count() == 0


def test_test_data_goes_to_test_subscriptions_only_and_live_data_to_live_ones(
    subscribe, client_org
):
    live = subscribe([WebhookEventType.RECIPIENT_APPROVED])
    sandbox = subscribe([WebhookEventType.RECIPIENT_APPROVED], is_test=True)
    webhooks.emit(WebhookEventType.RECIPIENT_APPROVED, client=client_org, payload={}, is_test=True)
    webhooks.emit(WebhookEventType.RECIPIENT_APPROVED, client=client_org, payload={})
    by_kind = {d.event.is_test: d.subscription for d in WebhookDelivery.objects.all()}
    assert by_kind == {True: sandbox, False: live}


def test_a_status_change_reports_both_statuses(subscribe, client_org):
    subscribe([WebhookEventType.CAMPAIGN_STATUS_CHANGED])
    campaign = factories.CampaignFactory(client=client_org, status="draft")
    change_campaign_status(campaign=campaign, to="cancelled", by=None)
    data = WebhookEvent.objects.get().payload
    assert (data["status_from"], data["status_to"], data["status"]) == (
        "draft",
        "cancelled",
        "cancelled",
    )


def test_an_event_outside_the_catalogue_is_refused(client_org):
    with pytest.raises(ValueError, match="Unknown webhook event type"):
        webhooks.emit("recipient.deleted", client=client_org, payload={})
