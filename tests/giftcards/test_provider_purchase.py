"""Pools that may buy from the provider: an empty `api_only`/`fallback` pool buys the card from
(a local fake) Tillo with the reward's idempotency key; an uncertain answer leaves the reward
`purchase_pending` and a later settle gets the same card — never bought twice, never lost."""

from decimal import Decimal

import pytest

from giftcards.models import GiftCard, PurchaseMethod, RewardStatus
from giftcards.services import (
    add_cards_to_pool,
    allocate_credit,
    ensure_reward,
)
from giftcards.services.purchase import settle_pending_purchases
from mike.rewards.claims import claim_pending_rewards
from recipients.models import ApprovalStatus, SmsOptInStatus
from tests import factories


def world(method, *, cards=0, recipients=1):
    client = factories.ClientFactory()
    allocate_credit(client, Decimal("500.00"))
    condition = factories.CampaignConditionFactory(
        campaign__client=client, card_value=Decimal("10.00")
    )
    pool = factories.GiftCardPoolFactory(
        client=client,
        brand=condition.brand,
        card_value=condition.card_value,
        purchase_method=method,
        provider="tillo",
    )
    if cards:
        add_cards_to_pool(pool, [f"STOCK-{n}" for n in range(cards)])
    people = []
    for _ in range(recipients):
        recipient = factories.RecipientFactory(
            campaign=condition.campaign,
            approval_status=ApprovalStatus.APPROVED,
            sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        )
        ensure_reward(recipient=recipient, condition=condition)
        people.append(recipient)
    return pool, people


def reward_of(recipient):
    return recipient.rewards.get()


@pytest.mark.django_db
def test_an_empty_api_only_pool_buys_the_card(tillo):
    pool, [recipient] = world(PurchaseMethod.API_ONLY)
    [reward] = claim_pending_rewards(recipient=recipient)
    assert reward.status == RewardStatus.CLAIMED
    key = reward.provider_request_id
    assert reward.gift_card.code == tillo.issued[key]["code"]
    assert reward.gift_card.source == "provider" and reward.gift_card.pin
    pool.refresh_from_db()
    assert (pool.total_cards, pool.available_cards, pool.claimed_cards) == (1, 0, 1)
    assert reward.deliveries.count() == 1 and reward.sale.total_amount == Decimal("10.00")


@pytest.mark.django_db
def test_a_5xx_leaves_the_purchase_pending_and_the_settle_completes_it(tillo):
    pool, [recipient] = world(PurchaseMethod.API_ONLY)
    tillo.fail_next = [500, 500]
    assert claim_pending_rewards(recipient=recipient) == []
    reward = reward_of(recipient)
    assert reward.status == RewardStatus.PURCHASE_PENDING and reward.gift_card is None
    assert GiftCard.objects.filter(pool=pool).count() == 0

    assert len(settle_pending_purchases()) == 1
    reward.refresh_from_db()
    assert reward.status == RewardStatus.CLAIMED
    assert len(tillo.issued) == 1


@pytest.mark.django_db
def test_a_timeout_after_the_provider_issued_settles_to_that_same_card(tillo):
    pool, [recipient] = world(PurchaseMethod.API_ONLY)
    tillo.stall_next = [1.0, 1.0]
    claim_pending_rewards(recipient=recipient)
    reward = reward_of(recipient)
    assert reward.status == RewardStatus.PURCHASE_PENDING
    bought = tillo.issued[reward.provider_request_id]["code"]

    settle_pending_purchases()
    settle_pending_purchases()  # a second settle changes nothing
    reward.refresh_from_db()
    assert reward.gift_card.code == bought
    assert len(tillo.issued) == 1 and GiftCard.objects.filter(pool=pool).count() == 1


@pytest.mark.django_db
def test_a_refused_purchase_waits_for_stock(tillo):
    pool, [recipient] = world(PurchaseMethod.API_ONLY)
    brand = pool.brand
    brand.tillo_brand_code = "unknown-brand"
    brand.save()
    assert claim_pending_rewards(recipient=recipient) == []
    assert reward_of(recipient).status == RewardStatus.AWAITING_STOCK


@pytest.mark.django_db
def test_fallback_uses_stock_first_then_buys(tillo):
    pool, people = world(PurchaseMethod.FALLBACK, cards=1, recipients=2)
    first, second = (claim_pending_rewards(recipient=r) for r in people)
    assert first[0].gift_card.code == "STOCK-0"
    assert second[0].gift_card.source == "provider"
    assert tillo.requests == 1


@pytest.mark.django_db
def test_csv_only_never_calls_the_provider(tillo):
    pool, [recipient] = world(PurchaseMethod.CSV_ONLY)
    claim_pending_rewards(recipient=recipient)
    assert reward_of(recipient).status == RewardStatus.AWAITING_STOCK
    assert tillo.requests == 0
