"""Test data (a test API key's) in the dashboards: marked "Test" where listed, left out of the
funnel and the money spent, and resent through the sandbox."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaigns.daily_counts import roll_up_daily_counts
from campaigns.models import CampaignStatus, EventType
from giftcards.models import DeliveryStatus, GiftCardDelivery
from giftcards.services.sandbox import claim_sandbox_card
from recipients.models import ApprovalStatus, SmsOptInStatus
from tests import factories
from tests.dashboard.helpers import read_csv
from tests.dashboard.test_home import HOME, at, totals

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(tenants):
    client = tenants.client_a
    campaign = factories.CampaignFactory(client=client, status=CampaignStatus.MAILED)
    condition = factories.CampaignConditionFactory(
        campaign=campaign, condition_number=1, card_value=Decimal("15.00")
    )
    recipient = factories.RecipientFactory(
        audience=factories.AudienceFactory(client=client, is_test=True),
        campaign=campaign,
        is_test=True,
        first_name="Tess",
        last_name="Sandbox",
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    reward, delivery = claim_sandbox_card(recipient=recipient, condition=condition)
    return {"campaign": campaign, "recipient": recipient, "reward": reward, "delivery": delivery}


def test_test_data_is_left_out_of_the_funnel_and_the_money_spent(
    tenants, people, login_as, sandbox
):
    campaign = sandbox["campaign"]
    live = factories.RecipientFactory(
        campaign=campaign, audience=factories.AudienceFactory(client=campaign.client)
    )
    for recipient in (live, sandbox["recipient"]):
        factories.EventFactory(
            campaign=campaign,
            client=campaign.client,
            recipient=recipient,
            event_type=EventType.CLAIMED,
            occurred_at=at(campaign.client, 1),
            event_data={"card_value": "15.00"},
        )
    web = login_as(people.client_admin)
    response = web.get(HOME, {"days": 7})
    assert totals(response)["claimed"] == 1
    assert response.context["numbers"].spent == Decimal("15.00")
    assert "Tess" not in response.content.decode()  # nor in the recent activity
    # The same once the days are rolled up.
    roll_up_daily_counts(now=timezone.now() + timedelta(days=2))
    response = web.get(HOME, {"days": 7})
    assert totals(response)["claimed"] == 1
    assert response.context["numbers"].spent == Decimal("15.00")


def test_test_recipients_rewards_and_deliveries_are_badged(people, login_as, sandbox):
    web = login_as(people.client_admin)
    recipients = web.get(reverse("dashboard:recipients")).content.decode()
    assert 'Tess Sandbox</a> <span class="badge warn"' in recipients
    rewards = web.get(reverse("dashboard:giftcard_rewards")).content.decode()
    assert sandbox["reward"].sandbox_code in rewards and ">Test</span>" in rewards
    deliveries = web.get(reverse("dashboard:deliveries")).content.decode()
    assert ">Test</span>" in deliveries and "$15.00 (test)" in deliveries
    detail = web.get(reverse("dashboard:recipient", args=[sandbox["recipient"].pk]))
    assert ">Test</span>" in detail.content.decode()


def test_exports_mark_test_rows(people, login_as, sandbox):
    web = login_as(people.client_admin)
    (reward,) = read_csv(web.get(reverse("dashboard:giftcard_rewards"), {"export": "csv"}))
    assert reward["Recipient"] == "Tess Sandbox (test)"
    assert reward["Card"] == sandbox["reward"].sandbox_code
    (delivery,) = read_csv(web.get(reverse("dashboard:deliveries"), {"export": "csv"}))
    assert delivery["Recipient"] == "Tess Sandbox (test)"
    recipients = read_csv(web.get(reverse("dashboard:recipients"), {"export": "csv"}))
    assert [row["Name"] for row in recipients] == ["Tess Sandbox (test)"]


def test_the_resend_button_resends_a_sandbox_delivery_through_the_sandbox(
    people, login_as, sandbox, sms_outbox, django_capture_on_commit_callbacks
):
    delivery = sandbox["delivery"]
    GiftCardDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, retry_count=5, max_retries=5, next_attempt_at=None
    )
    web = login_as(people.client_admin)
    with django_capture_on_commit_callbacks(execute=True):
        web.post(reverse("dashboard:delivery_resend", kwargs={"delivery_id": delivery.pk}))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.sms_status == "delivered (test)"
    assert list(sms_outbox) == [] and mail.outbox == []
