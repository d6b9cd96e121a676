"""Every state a reward can wait in has an owner that moves it on: the step after a commit that
never ran (a web process that died, a broker outage), a claim refused for credit until credit is
added, a recipient who already redeemed a card and earns another, and a sweep that one bad row
must not stop."""

from decimal import Decimal

import pytest
from django.urls import reverse

from calls.models import ConditionMetSource
from giftcards.models import (
    DeliveryStatus,
    GiftCardDelivery,
    GiftCardPool,
    PurchaseStatus,
    RecipientGiftCard,
    RewardStatus,
)
from giftcards.services import add_cards_to_pool, allocate_credit, ensure_reward
from mike.rewards.claims import allocate_credit as top_up
from mike.rewards.claims import claim_pending_rewards
from mike.rewards.conditions import mark_condition_met
from mike.rewards.sweeps import sweep_stuck_work
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus
from tests import factories

VALUE = Decimal("15.00")


def campaign_with_stock(*, credit="100.00", cards=5, conditions=1, auto_approve=False):
    client = factories.ClientFactory(name="Summit Roofing", auto_approve_recipients=auto_approve)
    if credit:
        allocate_credit(client, Decimal(credit))
    campaign = factories.CampaignFactory(client=client)
    first = factories.CampaignConditionFactory(campaign=campaign, card_value=VALUE)
    steps = [first] + [
        factories.CampaignConditionFactory(
            campaign=campaign, condition_number=n, brand=first.brand, card_value=VALUE
        )
        for n in range(2, conditions + 1)
    ]
    pool = factories.GiftCardPoolFactory(client=client, brand=first.brand, card_value=VALUE)
    if cards:
        add_cards_to_pool(pool, [f"{pool.pk}-{n}" for n in range(cards)])
    return campaign, steps, pool


def ready(campaign, **kwargs):
    state = {
        "approval_status": ApprovalStatus.APPROVED,
        "sms_opt_in_status": SmsOptInStatus.OPTED_IN,
    }
    return factories.RecipientFactory(campaign=campaign, **{**state, **kwargs})


def status_of(reward):
    reward.refresh_from_db()
    return reward.status


# --- A redeemed recipient earns their later rewards ----------------------------------------------


@pytest.mark.django_db
def test_a_recipient_who_viewed_card_1_gets_the_card_of_condition_2(
    client, django_capture_on_commit_callbacks, sms_outbox
):
    campaign, (first, second), pool = campaign_with_stock(conditions=2)
    recipient = ready(campaign)
    with django_capture_on_commit_callbacks(execute=True):
        mark_condition_met(recipient=recipient, condition=first, source=ConditionMetSource.AGENT)
    assert recipient.rewards.get().status == RewardStatus.DELIVERED
    client.post(reverse("redeem"), {"code": recipient.redemption_code}, REMOTE_ADDR="203.0.113.9")
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.REDEEMED

    with django_capture_on_commit_callbacks(execute=True):
        mark_condition_met(recipient=recipient, condition=second, source=ConditionMetSource.AGENT)

    later = RecipientGiftCard.objects.get(recipient=recipient, condition=second)
    assert later.status == RewardStatus.DELIVERED
    assert len(sms_outbox) == 2
    page = client.post(
        reverse("redeem"), {"code": recipient.redemption_code}, REMOTE_ADDR="203.0.113.9"
    )
    assert page.content.decode().count("gift card") >= 2


@pytest.mark.django_db
def test_a_redeemed_recipients_yes_claims_a_waiting_reward(
    twilio_post, django_capture_on_commit_callbacks
):
    campaign, (first,), pool = campaign_with_stock()
    recipient = ready(campaign, approval_status=ApprovalStatus.REDEEMED)
    Recipient.objects.filter(pk=recipient.pk).update(sms_opt_in_status=SmsOptInStatus.OPTED_OUT)
    reward = ensure_reward(recipient=recipient, condition=first)

    with django_capture_on_commit_callbacks(execute=True):
        twilio_post(
            "/hooks/twilio/sms/",
            {
                "MessageSid": "SM" + "a" * 32,
                "From": recipient.phone,
                "To": "+15550009999",
                "Body": "YES",
            },
        )

    assert status_of(reward) == RewardStatus.DELIVERED


# --- What the sweep owns -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_claim_lost_after_commit_is_made_by_the_sweep(django_capture_on_commit_callbacks):
    """The web process died after committing the condition: its after-commit step never ran."""
    campaign, (first,), pool = campaign_with_stock()
    recipient = ready(campaign)
    with django_capture_on_commit_callbacks(execute=False):
        mark_condition_met(recipient=recipient, condition=first, source=ConditionMetSource.AGENT)
    reward = recipient.rewards.get()
    assert status_of(reward) == RewardStatus.PENDING

    with django_capture_on_commit_callbacks(execute=True):
        summary = sweep_stuck_work()

    assert summary["claims"] == 1
    assert status_of(reward) == RewardStatus.DELIVERED


@pytest.mark.django_db
def test_an_auto_approval_lost_after_commit_is_made_by_the_sweep(
    django_capture_on_commit_callbacks, sms_outbox
):
    campaign, (first,), pool = campaign_with_stock(auto_approve=True)
    recipient = factories.RecipientFactory(campaign=campaign)
    with django_capture_on_commit_callbacks(execute=False):
        mark_condition_met(recipient=recipient, condition=first, source=ConditionMetSource.AGENT)
    Recipient.objects.filter(pk=recipient.pk).update(
        updated_at=recipient.updated_at.replace(year=2020)
    )

    with django_capture_on_commit_callbacks(execute=True):
        summary = sweep_stuck_work()

    recipient.refresh_from_db()
    assert summary["auto_approved"] == 1
    assert recipient.approval_status == ApprovalStatus.APPROVED
    assert [m.to for m in sms_outbox] == [recipient.phone]  # the opt-in question


@pytest.mark.django_db
def test_a_claim_refused_for_credit_is_claimed_once_credit_is_added(
    django_capture_on_commit_callbacks,
):
    campaign, (first,), pool = campaign_with_stock(credit="5.00")
    recipient = ready(campaign)
    reward = ensure_reward(recipient=recipient, condition=first)
    assert claim_pending_rewards(recipient=recipient) == []
    assert status_of(reward) == RewardStatus.AWAITING_CREDIT

    with django_capture_on_commit_callbacks(execute=True):
        top_up(campaign.client, Decimal("50.00"))

    assert status_of(reward) == RewardStatus.DELIVERED


@pytest.mark.django_db
def test_a_claim_refused_for_credit_is_claimed_by_the_sweep_after_a_top_up_elsewhere(
    django_capture_on_commit_callbacks,
):
    campaign, (first,), pool = campaign_with_stock(credit="5.00")
    recipient = ready(campaign)
    reward = ensure_reward(recipient=recipient, condition=first)
    claim_pending_rewards(recipient=recipient)
    allocate_credit(campaign.client, Decimal("50.00"))  # the ledger service alone: no claim
    assert status_of(reward) == RewardStatus.AWAITING_CREDIT

    with django_capture_on_commit_callbacks(execute=True):
        sweep_stuck_work()

    assert status_of(reward) == RewardStatus.DELIVERED


@pytest.mark.django_db
def test_one_bad_row_does_not_stop_the_sweep(django_capture_on_commit_callbacks, caplog):
    # A pool whose counters drifted from its cards: its claim fails in the database.
    campaign, (first,), broken = campaign_with_stock(cards=1)
    GiftCardPool.objects.filter(pk=broken.pk).update(available_cards=0)
    stuck = ready(campaign)
    stuck_reward = ensure_reward(recipient=stuck, condition=first)
    # A purchase with no pool to settle into.
    odd = factories.RecipientGiftCardFactory(
        status=RewardStatus.PURCHASE_PENDING,
        purchase_status=PurchaseStatus.PENDING,
        provider_request_id="mike-reward-odd",
    )
    # And a reward that can be claimed, of another client.
    other, (other_first,), _ = campaign_with_stock()
    fine = ready(other)
    fine_reward = ensure_reward(recipient=fine, condition=other_first)
    queued = factories.GiftCardDeliveryFactory()
    GiftCardDelivery.objects.filter(pk=queued.pk).update(
        enqueued_at=queued.created_at.replace(year=2020)
    )

    with django_capture_on_commit_callbacks(execute=True):
        summary = sweep_stuck_work()

    assert status_of(stuck_reward) == RewardStatus.PENDING
    assert status_of(odd) == RewardStatus.PURCHASE_PENDING
    assert status_of(fine_reward) == RewardStatus.DELIVERED
    assert summary["claims"] >= 1 and summary["purchases_settled"] == 0
    assert GiftCardDelivery.objects.get(pk=queued.pk).status == DeliveryStatus.SENT
    assert "failed" in caplog.text
