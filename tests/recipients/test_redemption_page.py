"""The public redemption page answers each stage of a reward, shows a delivered card, marks the
recipient redeemed, and stops code guessing with HTTP 429."""

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Event, EventType
from giftcards.models import RewardStatus
from recipients.codes import format_code
from recipients.models import ApprovalStatus, RecipientAuditLog, SmsOptInStatus
from tests import factories

URL = "/redeem/"


def post_code(client, code, ip="203.0.113.5"):
    return client.post(URL, {"code": code}, REMOTE_ADDR=ip)


def delivered_reward(code="GIFT-CODE-0001"):
    reward = factories.RecipientGiftCardFactory(claimed=True)
    card = reward.gift_card
    card.set_code(code)
    card.save()
    type(reward).objects.filter(pk=reward.pk).update(status=RewardStatus.DELIVERED)
    recipient = reward.recipient
    type(recipient).objects.filter(pk=recipient.pk).update(
        approval_status=ApprovalStatus.APPROVED, sms_opt_in_status=SmsOptInStatus.OPTED_IN
    )
    recipient.refresh_from_db()
    return reward, recipient


@pytest.mark.django_db
def test_the_form_is_mobile_ready():
    from django.test import Client

    response = Client().get(reverse("redeem"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="viewport"' in html and 'name="code"' in html
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


@pytest.mark.django_db
def test_code_entry_forgives_case_dashes_and_look_alikes(client):
    recipient = factories.RecipientFactory(redemption_code="7KQ4M2XD9P")
    for typed in ("7kq4-m2xd-9p", " 7KQ4 M2XD 9P ", format_code("7KQ4M2XD9P")):
        assert "No reward on this code yet" in post_code(client, typed).content.decode()
    recipient.redemption_code = "1B0Q2C3D4E"
    recipient.save()
    assert "No reward on this code yet" in post_code(client, "iboq-2c3d-4e").content.decode()


@pytest.mark.django_db
def test_a_delivered_card_is_shown_and_the_recipient_is_redeemed(client):
    reward, recipient = delivered_reward("STAR-BUCK-1234")
    response = post_code(client, recipient.redemption_code)
    html = response.content.decode()
    assert "STAR-BUCK-1234" in html
    assert reward.brand.brand_name in html and f"{reward.card_value:.2f}" in html
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.REDEEMED
    assert recipient.redemption_ip == "203.0.113.5"
    assert recipient.redemption_completed_at <= timezone.now()
    assert RecipientAuditLog.objects.filter(recipient=recipient, action="redeemed").count() == 1
    assert Event.objects.filter(recipient=recipient, event_type=EventType.REDEEMED).count() == 1

    post_code(client, recipient.redemption_code)  # viewing again redeems nothing twice
    assert RecipientAuditLog.objects.filter(recipient=recipient, action="redeemed").count() == 1
    # The view is counted once a day (tests/recipients/test_redemption_cost.py).
    assert Event.objects.filter(recipient=recipient, event_type=EventType.CODE_VIEWED).count() == 1


@pytest.mark.django_db
def test_a_claimed_but_undelivered_card_is_not_shown(client):
    reward = factories.RecipientGiftCardFactory(claimed=True)
    card = reward.gift_card
    card.set_code("NOT-YET-0001")
    card.save()
    recipient = reward.recipient
    response = post_code(client, recipient.redemption_code)
    assert "NOT-YET-0001" not in response.content.decode()


@pytest.mark.django_db
def test_unknown_and_malformed_codes_get_the_same_generic_answer(client):
    unknown = post_code(client, "ZZZZ-ZZZZ-ZZ").content.decode()
    assert "couldn't find that code" in unknown
    malformed = post_code(client, "abc").content.decode()
    assert "10 letters and numbers" in malformed


@pytest.mark.django_db
def test_wrong_codes_are_rate_limited_per_address(client):
    for _ in range(10):
        assert post_code(client, "ZZZZ-ZZZZ-ZZ").status_code == 200
    assert post_code(client, "ZZZZ-ZZZZ-ZZ").status_code == 429
    # Even a right code waits now: the address is guessing.
    recipient = factories.RecipientFactory()
    assert post_code(client, recipient.redemption_code).status_code == 429
    # Another address is unaffected.
    assert post_code(client, recipient.redemption_code, ip="198.51.100.7").status_code == 200


@pytest.mark.django_db
def test_right_codes_do_not_count_against_the_limit(client):
    recipient = factories.RecipientFactory()
    for _ in range(15):
        assert post_code(client, recipient.redemption_code).status_code == 200
