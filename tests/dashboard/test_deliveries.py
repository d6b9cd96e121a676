"""The deliveries page: every card sent, why one failed, filters, export, and resending once."""

from unittest import mock

import pytest
from django.urls import reverse

from giftcards.models import (
    CardDeliveryMethod,
    DeliveryFailureReason,
    DeliveryStatus,
    GiftCardDelivery,
    RewardStatus,
)
from tests import factories
from tests.dashboard.helpers import assert_queries_do_not_grow, read_csv

pytestmark = pytest.mark.django_db

LIST = reverse("dashboard:deliveries")


def resend_url(delivery):
    return reverse("dashboard:delivery_resend", kwargs={"delivery_id": delivery.pk})


def delivery_of(client, **extra):
    return factories.GiftCardDeliveryFactory(reward__condition__campaign__client=client, **extra)


def failed_delivery_of(client, **extra):
    return delivery_of(
        client,
        status=DeliveryStatus.FAILED,
        failure_reason=DeliveryFailureReason.SEND_ERROR,
        error_message="Carrier filtered the message (30007)",
        retry_count=5,
        max_retries=5,
        **extra,
    )


def test_the_client_sees_its_deliveries_with_the_failure_reason(login_as, people, tenants):
    failed_delivery_of(tenants.client_a, reward__recipient__first_name="Fay")
    delivery_of(tenants.client_a, reward__recipient__first_name="Quinn")
    delivery_of(tenants.client_b, reward__recipient__first_name="Bertha")
    response = login_as(people.client_user).get(LIST)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Fay" in body and "Quinn" in body and "Bertha" not in body
    assert "Carrier filtered the message (30007)" in body
    assert "Send error" in body
    assert response.context["failed"] == 1


def test_anonymous_visitors_are_sent_to_sign_in(client, tenants):
    delivery = failed_delivery_of(tenants.client_a)
    assert client.get(LIST)["Location"].startswith("/app/login/")
    assert client.post(resend_url(delivery))["Location"].startswith("/app/login/")


def test_the_filters_narrow_the_table(login_as, people, tenants):
    failed = failed_delivery_of(tenants.client_a, reward__recipient__first_name="Fay")
    delivery_of(
        tenants.client_a,
        reward__recipient__first_name="Quinn",
        delivery_method=CardDeliveryMethod.EMAIL,
    )
    client = login_as(people.client_user)
    body = client.get(LIST, {"status": "failed"}).content.decode()
    assert "Fay" in body and "Quinn" not in body
    body = client.get(LIST, {"failure_reason": "send_error"}).content.decode()
    assert "Fay" in body and "Quinn" not in body
    body = client.get(LIST, {"delivery_method": "email"}).content.decode()
    assert "Quinn" in body and "Fay" not in body
    body = client.get(LIST, {"campaign": failed.campaign_id}).content.decode()
    assert "Fay" in body and "Quinn" not in body
    body = client.get(LIST, {"since": "2000-01-01", "until": "2000-01-02"}).content.decode()
    assert "Fay" not in body and "Quinn" not in body


def test_the_export_has_the_filtered_rows(login_as, people, tenants):
    failed_delivery_of(tenants.client_a, reward__recipient__first_name="Fay")
    delivery_of(tenants.client_a, reward__recipient__first_name="Quinn")
    rows = read_csv(login_as(people.client_user).get(LIST, {"status": "failed", "export": "csv"}))
    assert len(rows) == 1
    assert rows[0]["Recipient"].startswith("Fay")
    assert (rows[0]["Status"], rows[0]["Failure"], rows[0]["Attempts"]) == (
        "failed",
        "send_error",
        "5",
    )


def test_the_page_costs_the_same_queries_at_any_row_count(login_as, people, tenants):
    client = login_as(people.client_admin)
    condition = factories.CampaignConditionFactory(campaign__client=tenants.client_a)

    def add(n):
        for _ in range(n):
            factories.GiftCardDeliveryFactory(
                reward__condition=condition, status=DeliveryStatus.FAILED
            )

    assert_queries_do_not_grow(client, LIST, add, few=2, many=25)


def test_a_manager_sees_resend_only_on_failed_deliveries(login_as, people, tenants):
    failed = failed_delivery_of(tenants.client_a)
    queued = delivery_of(tenants.client_a)
    body = login_as(people.client_admin).get(LIST).content.decode()
    assert resend_url(failed) in body and resend_url(queued) not in body
    body = login_as(people.client_user).get(LIST).content.decode()
    assert resend_url(failed) not in body


def test_a_double_resend_queues_one_send(
    login_as, people, tenants, django_capture_on_commit_callbacks
):
    delivery = failed_delivery_of(tenants.client_a)
    client = login_as(people.client_admin)
    with mock.patch("mike.rewards.tasks.deliver_gift_card.delay") as queued:
        # Each POST commits (and queues its task) before the next click arrives.
        with django_capture_on_commit_callbacks(execute=True):
            first = client.post(resend_url(delivery), {"next": LIST}, follow=True)
        queued.assert_called_once_with(str(delivery.pk))
        with django_capture_on_commit_callbacks(execute=True):
            second = client.post(resend_url(delivery), {"next": LIST}, follow=True)
    queued.assert_called_once_with(str(delivery.pk))
    assert "Resending to" in first.content.decode()
    assert "already queued or being sent" in second.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.QUEUED
    assert delivery.failure_reason == ""


def test_a_sent_delivery_is_not_resent_and_the_page_says_why(
    login_as, people, tenants, django_capture_on_commit_callbacks
):
    delivery = delivery_of(tenants.client_a, status=DeliveryStatus.SENT)
    with (
        mock.patch("mike.rewards.tasks.deliver_gift_card.delay") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = login_as(people.client_admin).post(resend_url(delivery), follow=True)
    queued.assert_not_called()
    assert "sent already" in response.content.decode()


def test_a_revoked_rewards_delivery_is_never_resent(
    login_as, people, tenants, django_capture_on_commit_callbacks
):
    delivery = failed_delivery_of(tenants.client_a)
    delivery.reward.status = RewardStatus.REVOKED
    delivery.reward.save(update_fields=["status"])
    with (
        mock.patch("mike.rewards.tasks.deliver_gift_card.delay") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = login_as(people.client_admin).post(resend_url(delivery), follow=True)
    queued.assert_not_called()
    assert "revoked or rejected" in response.content.decode()
    assert GiftCardDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.FAILED


@pytest.mark.parametrize("who", ["client_user", "agency_user"])
def test_read_only_users_cannot_resend(login_as, people, tenants, who):
    delivery = failed_delivery_of(tenants.client_a)
    response = login_as(getattr(people, who), tenants.client_a).post(resend_url(delivery))
    assert response.status_code == 403
    assert GiftCardDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.FAILED


def test_another_tenants_delivery_is_not_found(login_as, people, tenants):
    delivery = failed_delivery_of(tenants.client_a)
    response = login_as(people.other_client_admin).post(resend_url(delivery))
    assert response.status_code == 404
    assert GiftCardDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.FAILED


def test_resend_returns_only_to_a_page_of_this_site(login_as, people, tenants):
    delivery = failed_delivery_of(tenants.client_a)
    response = login_as(people.client_admin).post(
        resend_url(delivery), {"next": "https://evil.example/"}
    )
    assert response["Location"] == LIST
