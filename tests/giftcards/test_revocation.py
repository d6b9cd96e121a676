"""Revoking a reward (SPEC §10): a reason of ten characters or more, a snapshot in the audit log;
a card never sent goes back to stock with its value refunded, a sent card is revoked, a card being
texted right now cannot be revoked until the send is recorded. Through the admin's action only."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from giftcards.models import (
    CreditTransaction,
    DeliveryStatus,
    GiftCard,
    GiftCardAuditLog,
    GiftCardDelivery,
    GiftCardPool,
    GiftCardStatus,
    RewardStatus,
    TransactionType,
)
from giftcards.services import add_cards_to_pool, allocate_credit, credit_account_for, ensure_reward
from giftcards.services.revocation import RevocationRefused, revoke_reward
from mike.rewards.claims import claim_pending_rewards
from mike.rewards.delivery import send_delivery
from recipients.models import ApprovalStatus, RecipientAuditLog, SmsOptInStatus
from tests import factories

REASON = "Duplicate household, confirmed by the client"


@pytest.fixture
def claimed(db):
    """A reward whose card is claimed and whose delivery is queued (not sent yet)."""
    client = factories.ClientFactory()
    allocate_credit(client, Decimal("100.00"))
    condition = factories.CampaignConditionFactory(
        campaign__client=client, card_value=Decimal("20.00")
    )
    pool = factories.GiftCardPoolFactory(
        client=client, brand=condition.brand, card_value=Decimal("20.00")
    )
    add_cards_to_pool(pool, ["REVOKE-ME-0001"])
    recipient = factories.RecipientFactory(
        campaign=condition.campaign,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    ensure_reward(recipient=recipient, condition=condition)
    [reward] = claim_pending_rewards(recipient=recipient)
    return reward


def counters(pool_id):
    pool = GiftCardPool.objects.get(pk=pool_id)
    return pool.total_cards, pool.available_cards, pool.claimed_cards, pool.delivered_cards


@pytest.mark.django_db
def test_an_unsent_card_goes_back_to_stock_and_its_value_back_to_the_client(claimed, sms_outbox):
    staff = factories.UserFactory(is_staff=True)
    card = claimed.gift_card
    client = claimed.campaign.client
    assert credit_account_for(client).balance == Decimal("80.00")

    revoked = revoke_reward(reward=claimed, by=staff, reason=REASON)

    assert revoked.status == RewardStatus.REVOKED and revoked.gift_card_id is None
    assert revoked.revoked_reason == REASON and revoked.revoked_at is not None
    card.refresh_from_db()
    assert card.status == GiftCardStatus.AVAILABLE and card.claimed_by_recipient_id is None
    assert counters(card.pool_id) == (1, 1, 0, 0)
    assert credit_account_for(client).balance == Decimal("100.00")
    refund = CreditTransaction.objects.get(transaction_type=TransactionType.REFUND)
    assert refund.amount == Decimal("20.00") and refund.reference_id == claimed.pk
    delivery = GiftCardDelivery.objects.get(reward=claimed)
    assert delivery.status == DeliveryStatus.FAILED and not delivery.can_retry
    # Nothing sends it afterwards.
    assert send_delivery(delivery.pk) != "sent" and sms_outbox == []
    audit = GiftCardAuditLog.objects.get(action="reward_revoked", entity_id=claimed.pk)
    assert audit.user == staff and audit.metadata["reason"] == REASON
    assert audit.metadata["card"] == "returned_to_stock"
    snapshot = audit.metadata["snapshot"]
    assert snapshot["reward"]["status"] == RewardStatus.CLAIMED
    assert snapshot["card"]["code"] == card.masked_code and "REVOKE-ME" not in str(snapshot)
    assert RecipientAuditLog.objects.filter(
        recipient=claimed.recipient, action="reward_revoked"
    ).exists()


@pytest.mark.django_db
def test_a_sent_card_is_revoked_and_stays_spent(claimed):
    delivery = GiftCardDelivery.objects.get(reward=claimed)
    assert send_delivery(delivery.pk) == "sent"
    card = GiftCard.objects.get(pk=claimed.gift_card_id)

    revoke_reward(reward=claimed, by=None, reason=REASON)

    card.refresh_from_db()
    assert card.status == GiftCardStatus.REVOKED
    assert counters(card.pool_id) == (1, 0, 0, 0)
    assert credit_account_for(claimed.campaign.client).balance == Decimal("80.00")


@pytest.mark.django_db
def test_a_card_being_texted_right_now_cannot_be_revoked(claimed):
    GiftCardDelivery.objects.filter(reward=claimed).update(
        status=DeliveryStatus.SENDING, lease_expires_at=timezone.now() + timedelta(minutes=1)
    )

    with pytest.raises(RevocationRefused, match="being texted right now"):
        revoke_reward(reward=claimed, by=None, reason=REASON)

    claimed.refresh_from_db()
    assert claimed.status == RewardStatus.CLAIMED


@pytest.mark.django_db
def test_a_reason_of_fewer_than_ten_characters_is_refused(claimed):
    with pytest.raises(RevocationRefused, match="at least 10"):
        revoke_reward(reward=claimed, by=None, reason="fraud")
    with pytest.raises(RevocationRefused, match="already revoked"):
        revoke_reward(reward=claimed, by=None, reason=REASON)
        revoke_reward(reward=claimed, by=None, reason=REASON)


@pytest.mark.django_db
def test_a_reward_without_a_card_is_simply_revoked(db):
    reward = factories.RecipientGiftCardFactory(status=RewardStatus.AWAITING_STOCK)

    revoke_reward(reward=reward, by=None, reason=REASON)

    reward.refresh_from_db()
    assert reward.status == RewardStatus.REVOKED


@pytest.mark.django_db
def test_staff_revoke_through_the_admin_action_with_a_reason(claimed, admin_client):
    url = reverse("admin:giftcards_recipientgiftcard_changelist")
    asked = admin_client.post(url, {"action": "revoke_rewards", "_selected_action": [claimed.pk]})
    assert asked.status_code == 200 and "Revoke rewards" in asked.content.decode()

    short = admin_client.post(
        url,
        {
            "action": "revoke_rewards",
            "_selected_action": [claimed.pk],
            "apply": "1",
            "reason": "no",
        },
    )
    assert short.status_code == 200  # the form again, with its error
    claimed.refresh_from_db()
    assert claimed.status == RewardStatus.CLAIMED

    done = admin_client.post(
        url,
        {
            "action": "revoke_rewards",
            "_selected_action": [claimed.pk],
            "apply": "1",
            "reason": REASON,
        },
        follow=True,
    )
    assert done.status_code == 200 and "Revoked 1 reward" in done.content.decode()
    claimed.refresh_from_db()
    assert claimed.status == RewardStatus.REVOKED


@pytest.mark.django_db
def test_staff_add_credit_through_the_admin_and_waiting_rewards_are_claimed(
    admin_client, django_capture_on_commit_callbacks
):
    client = factories.ClientFactory()
    condition = factories.CampaignConditionFactory(
        campaign__client=client, card_value=Decimal("20")
    )
    pool = factories.GiftCardPoolFactory(
        client=client, brand=condition.brand, card_value=Decimal("20")
    )
    add_cards_to_pool(pool, ["TOPUP-0001"])
    recipient = factories.RecipientFactory(
        campaign=condition.campaign,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    reward = ensure_reward(recipient=recipient, condition=condition)
    claim_pending_rewards(recipient=recipient)
    reward.refresh_from_db()
    assert reward.status == RewardStatus.AWAITING_CREDIT
    account = credit_account_for(client)

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:giftcards_creditaccount_changelist"),
            {
                "action": "add_credit",
                "_selected_action": [account.pk],
                "apply": "1",
                "amount": "50.00",
                "description": "Invoice 1042",
            },
        )

    reward.refresh_from_db()
    assert reward.status in (RewardStatus.CLAIMED, RewardStatus.DELIVERED)
    assert credit_account_for(client).balance == Decimal("30.00")
    assert CreditTransaction.objects.filter(description="Invoice 1042").exists()
