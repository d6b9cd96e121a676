"""Deliveries and rewards are written by the pipeline only: in the admin every field is read-only,
nothing is added or deleted, and the Retry action (mike.rewards.delivery.retry_delivery) is how
staff act on a delivery."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from giftcards.models import DeliveryFailureReason, DeliveryStatus, GiftCardDelivery, RewardStatus
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:giftcards_giftcarddelivery_changelist")


@pytest.fixture
def superuser_client(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


def staff_with(client, *codenames):
    user = factories.UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


@pytest.fixture
def failed_delivery():
    return factories.GiftCardDeliveryFactory(
        status=DeliveryStatus.FAILED,
        failure_reason=DeliveryFailureReason.SEND_ERROR,
        retry_count=5,
        max_retries=5,
        delivery_address="+15552010001",
    )


def url(obj, view):
    opts = obj._meta
    args = [] if view == "add" else [obj.pk]
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


# --- Deliveries -----------------------------------------------------------------------------------


def test_a_delivery_page_has_no_editable_field(superuser_client, failed_delivery):
    page = superuser_client.get(url(failed_delivery, "change"))

    assert page.status_code == 200
    assert list(page.context["adminform"].form.fields) == []
    assert "+15552010001" in page.content.decode()  # still shown


def test_a_delivery_cannot_be_redirected_to_another_address(superuser_client, failed_delivery):
    response = superuser_client.post(
        url(failed_delivery, "change"),
        {"delivery_address": "+15559999999", "status": DeliveryStatus.QUEUED},
    )

    assert response.status_code == 403
    failed_delivery.refresh_from_db()
    assert failed_delivery.delivery_address == "+15552010001"
    assert failed_delivery.status == DeliveryStatus.FAILED


def test_deliveries_are_not_added_or_deleted_in_the_admin(superuser_client, failed_delivery):
    assert superuser_client.get(url(failed_delivery, "add")).status_code == 403
    assert superuser_client.post(url(failed_delivery, "delete"), {"post": "yes"}).status_code == 403
    response = superuser_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [str(failed_delivery.pk)], "post": "yes"},
    )
    assert response.status_code == 302  # back to the list: delete is not an action here
    assert GiftCardDelivery.objects.filter(pk=failed_delivery.pk).exists()


def retry(client, delivery, capture):
    with capture(execute=True):
        return client.post(
            CHANGELIST,
            {"action": "retry_deliveries", "_selected_action": [str(delivery.pk)]},
            follow=True,
        )


def test_staff_who_may_change_deliveries_can_retry_one(
    client, failed_delivery, sms_outbox, django_capture_on_commit_callbacks
):
    staff = staff_with(client, "view_giftcarddelivery", "change_giftcarddelivery")
    actions = staff.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == ["retry_deliveries"]

    retry(staff, failed_delivery, django_capture_on_commit_callbacks)

    failed_delivery.refresh_from_db()
    assert failed_delivery.status == DeliveryStatus.SENT
    assert failed_delivery.failure_reason == ""
    assert [m.to for m in sms_outbox] == ["+15552010001"]


def test_staff_who_may_only_view_deliveries_cannot_retry(
    client, failed_delivery, sms_outbox, django_capture_on_commit_callbacks
):
    staff = staff_with(client, "view_giftcarddelivery")
    page = staff.get(CHANGELIST)
    assert page.status_code == 200
    assert page.context["action_form"] is None  # no action this user may run

    retry(staff, failed_delivery, django_capture_on_commit_callbacks)

    failed_delivery.refresh_from_db()
    assert failed_delivery.status == DeliveryStatus.FAILED
    assert sms_outbox == []


# --- Rewards --------------------------------------------------------------------------------------


def test_a_reward_page_has_no_editable_field(superuser_client):
    reward = factories.RecipientGiftCardFactory(claimed=True)

    page = superuser_client.get(url(reward, "change"))

    assert page.status_code == 200
    assert list(page.context["adminform"].form.fields) == []


def test_a_reward_cannot_be_edited_added_or_deleted(superuser_client):
    reward = factories.RecipientGiftCardFactory(claimed=True)
    other_card = factories.GiftCardFactory()

    response = superuser_client.post(
        url(reward, "change"),
        {
            "status": RewardStatus.PENDING,
            "gift_card": str(other_card.pk),
            "card_value": "500.00",
            "delivery_address": "+15559999999",
        },
    )

    assert response.status_code == 403
    after = type(reward).objects.get(pk=reward.pk)
    assert (after.status, after.gift_card_id, after.card_value) == (
        RewardStatus.CLAIMED,
        reward.gift_card_id,
        reward.card_value,
    )
    assert superuser_client.get(url(reward, "add")).status_code == 403
    assert superuser_client.post(url(reward, "delete"), {"post": "yes"}).status_code == 403
