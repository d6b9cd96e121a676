"""claim_card_atomic assigns exactly one card and writes every row of the claim in one
transaction; it is idempotent per recipient + condition and refuses (changing nothing) when the
pool is empty or missing or the client's credit does not cover the card."""

from decimal import Decimal

import pytest

from campaigns.models import Event, EventType
from giftcards.models import (
    CardDeliveryMethod,
    CreditTransaction,
    DeliveryStatus,
    GiftCard,
    GiftCardAuditLog,
    GiftCardDelivery,
    GiftCardSale,
    GiftCardStatus,
    PurchaseMethod,
    RecipientGiftCard,
    RewardStatus,
    TransactionType,
)
from giftcards.services import (
    InsufficientCredit,
    NoCardAvailable,
    RewardNotClaimable,
    allocate_credit,
    claim_card_atomic,
    credit_account_for,
    ensure_reward,
    get_recipient_gift_card_for_condition,
    mark_awaiting_stock,
)
from mike.rewards.claims import claim_pending_rewards
from recipients.models import (
    ApprovalStatus,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsOptInStatus,
)
from tests import factories

VALUE = Decimal("25.00")


@pytest.fixture(params=["single_statement", "portable"])
def setup(request, db, settings):
    """Every test here runs with both claim writers: the single-statement PostgreSQL one and the
    portable ORM one (the one SQLite uses)."""
    settings.GIFTCARD_CLAIM_SQL = request.param == "single_statement"
    client = factories.ClientFactory()
    campaign = factories.CampaignFactory(client=client)
    brand = factories.GiftCardBrandFactory()
    condition = factories.CampaignConditionFactory(campaign=campaign, brand=brand, card_value=VALUE)
    pool = factories.GiftCardPoolFactory(client=client, brand=brand, card_value=VALUE)
    for _ in range(3):
        factories.GiftCardFactory(pool=pool)
    recipient = factories.RecipientFactory(
        campaign=campaign,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    allocate_credit(client, Decimal("100.00"))
    return {
        "client": client,
        "campaign": campaign,
        "brand": brand,
        "condition": condition,
        "pool": pool,
        "recipient": recipient,
    }


def snapshot(pool):
    """Everything a claim may change, as plain values."""
    pool.refresh_from_db()
    account = credit_account_for(pool.client)
    return {
        "cards": sorted(
            GiftCard.objects.filter(pool=pool).values_list("pk", "status", "claimed_by_recipient")
        ),
        "counters": (pool.total_cards, pool.available_cards, pool.claimed_cards),
        "balance": account.balance,
        "ledger": CreditTransaction.objects.filter(account=account).count(),
        "rewards": sorted(RecipientGiftCard.objects.values_list("pk", "status", "gift_card")),
        "sales": GiftCardSale.objects.count(),
        "deliveries": GiftCardDelivery.objects.count(),
        "card_audit": GiftCardAuditLog.objects.filter(action="card_claimed").count(),
        "recipient_audit": RecipientAuditLog.objects.count(),
        "events": Event.objects.count(),
    }


def assert_counters_match_cards(pool):
    pool.refresh_from_db()
    cards = GiftCard.objects.filter(pool=pool)
    assert pool.total_cards == cards.count()
    assert pool.available_cards == cards.filter(status=GiftCardStatus.AVAILABLE).count()
    assert pool.claimed_cards == cards.filter(status=GiftCardStatus.CLAIMED).count()


def test_claim_assigns_one_card_and_writes_every_row_of_the_claim(setup):
    recipient, condition, pool = setup["recipient"], setup["condition"], setup["pool"]
    call = factories.CallSessionFactory(campaign=setup["campaign"], recipient=recipient)
    oldest = GiftCard.objects.filter(pool=pool).order_by("created_at").first()

    card = claim_card_atomic(recipient=recipient, condition=condition, call_session=call)

    assert card == oldest
    card.refresh_from_db()
    assert card.status == GiftCardStatus.CLAIMED
    assert card.claimed_at is not None
    assert card.claimed_by_recipient == recipient
    assert card.claimed_by_call_session == call
    assert card.assignment_source == "call_center"
    assert card.assignment_campaign == setup["campaign"]
    assert card.assignment_condition == condition

    reward = get_recipient_gift_card_for_condition(recipient=recipient, condition=condition)
    assert reward.gift_card == card
    assert reward.status == RewardStatus.CLAIMED
    assert reward.assigned_at is not None
    assert (reward.brand, reward.card_value) == (setup["brand"], VALUE)

    recipient.refresh_from_db()
    assert recipient.gift_card_assigned == card

    pool.refresh_from_db()
    assert (pool.available_cards, pool.claimed_cards) == (2, 1)
    assert_counters_match_cards(pool)

    account = credit_account_for(setup["client"])
    assert account.balance == Decimal("75.00")
    debit = CreditTransaction.objects.get(account=account, amount__lt=0)
    assert debit.amount == -VALUE
    assert debit.transaction_type == TransactionType.PURCHASE
    assert (debit.reference_type, debit.reference_id) == ("reward", reward.pk)

    sale = GiftCardSale.objects.get(reward=reward)
    assert (sale.client, sale.pool, sale.quantity) == (setup["client"], pool, 1)
    assert sale.price_per_card == sale.total_amount == VALUE
    assert sale.cost_per_card == Decimal("23.75")
    assert sale.margin == Decimal("1.25")
    assert sale.credit_transaction == debit

    audit = GiftCardAuditLog.objects.get(action="card_claimed")
    assert (audit.client, audit.entity_type, audit.entity_id) == (
        setup["client"],
        "gift_card",
        card.pk,
    )

    delivery = GiftCardDelivery.objects.get(reward=reward)
    assert delivery.status == DeliveryStatus.QUEUED
    assert delivery.gift_card == card
    assert delivery.delivery_method == CardDeliveryMethod.SMS
    assert delivery.delivery_address == recipient.phone
    assert delivery.condition_number == condition.condition_number
    assert delivery.campaign == setup["campaign"]
    assert delivery.call_session == call

    log = RecipientAuditLog.objects.get(recipient=recipient)
    assert log.action == RecipientAuditAction.GIFT_CARD_ASSIGNED
    assert log.call_session == call

    event = Event.objects.get(event_type=EventType.CLAIMED)
    assert (event.recipient, event.campaign, event.client) == (
        recipient,
        setup["campaign"],
        setup["client"],
    )
    assert event.event_data["gift_card"] == str(card.pk)


def test_recipient_without_phone_gets_an_email_delivery(setup):
    recipient = factories.RecipientFactory(campaign=setup["campaign"], phone="")
    claim_card_atomic(recipient=recipient, condition=setup["condition"])
    delivery = GiftCardDelivery.objects.get(recipient=recipient)
    assert delivery.delivery_method == CardDeliveryMethod.EMAIL
    assert delivery.delivery_address == recipient.email


def test_second_claim_for_same_condition_returns_same_card_and_changes_nothing(setup):
    recipient, condition = setup["recipient"], setup["condition"]
    first = claim_card_atomic(recipient=recipient, condition=condition)
    before = snapshot(setup["pool"])

    second = claim_card_atomic(recipient=recipient, condition=condition)

    assert second == first
    assert snapshot(setup["pool"]) == before


def test_claim_uses_the_existing_pending_reward(setup):
    recipient, condition = setup["recipient"], setup["condition"]
    reward = ensure_reward(recipient=recipient, condition=condition)
    assert ensure_reward(recipient=recipient, condition=condition) == reward
    card = claim_card_atomic(recipient=recipient, condition=condition)
    assert RecipientGiftCard.objects.get().pk == reward.pk
    reward.refresh_from_db()
    assert reward.gift_card == card


def test_each_condition_of_a_recipient_gets_its_own_card(setup):
    recipient = setup["recipient"]
    second = factories.CampaignConditionFactory(
        campaign=setup["campaign"], condition_number=2, brand=setup["brand"], card_value=VALUE
    )
    card1 = claim_card_atomic(recipient=recipient, condition=setup["condition"])
    card2 = claim_card_atomic(recipient=recipient, condition=second)
    assert card1 != card2
    recipient.refresh_from_db()
    assert recipient.gift_card_assigned == card2
    assert_counters_match_cards(setup["pool"])


def test_empty_pool_raises_no_card_available_and_changes_nothing(setup):
    pool = setup["pool"]
    others = [factories.RecipientFactory(campaign=setup["campaign"]) for _ in range(3)]
    for other in others:
        claim_card_atomic(recipient=other, condition=setup["condition"])
    before = snapshot(pool)

    with pytest.raises(NoCardAvailable) as exc:
        claim_card_atomic(recipient=setup["recipient"], condition=setup["condition"])

    assert exc.value.pool == pool
    assert exc.value.purchase_method == PurchaseMethod.CSV_ONLY
    assert exc.value.card_value == VALUE
    assert snapshot(pool) == before
    assert (
        get_recipient_gift_card_for_condition(
            recipient=setup["recipient"], condition=setup["condition"]
        )
        is None
    )


@pytest.mark.parametrize("method", [PurchaseMethod.API_ONLY, PurchaseMethod.FALLBACK])
def test_provider_pools_without_cards_also_raise_for_now(setup, method):
    condition = factories.CampaignConditionFactory(
        campaign=setup["campaign"],
        condition_number=2,
        brand=setup["brand"],
        card_value=Decimal("50.00"),
    )
    factories.GiftCardPoolFactory(
        client=setup["client"],
        brand=setup["brand"],
        card_value=Decimal("50.00"),
        purchase_method=method,
    )
    with pytest.raises(NoCardAvailable) as exc:
        claim_card_atomic(recipient=setup["recipient"], condition=condition)
    assert exc.value.purchase_method == method


def test_missing_pool_raises_no_card_available_and_changes_nothing(setup):
    other_value = factories.CampaignConditionFactory(
        campaign=setup["campaign"],
        condition_number=2,
        brand=setup["brand"],
        card_value=Decimal("10.00"),
    )
    before = snapshot(setup["pool"])
    with pytest.raises(NoCardAvailable) as exc:
        claim_card_atomic(recipient=setup["recipient"], condition=other_value)
    assert exc.value.pool is None
    assert snapshot(setup["pool"]) == before


def test_cards_of_another_clients_pool_or_a_master_pool_are_never_taken(setup):
    condition = factories.CampaignConditionFactory(
        campaign=setup["campaign"],
        condition_number=2,
        brand=setup["brand"],
        card_value=Decimal("10.00"),
    )
    factories.GiftCardFactory(
        pool=factories.GiftCardPoolFactory(brand=setup["brand"], card_value=Decimal("10.00"))
    )
    factories.GiftCardFactory(
        pool=factories.GiftCardPoolFactory(
            master=True, brand=setup["brand"], card_value=Decimal("10.00")
        )
    )
    inactive = factories.GiftCardPoolFactory(
        client=setup["client"], brand=setup["brand"], card_value=Decimal("10.00"), is_active=False
    )
    factories.GiftCardFactory(pool=inactive)
    with pytest.raises(NoCardAvailable):
        claim_card_atomic(recipient=setup["recipient"], condition=condition)


def test_insufficient_credit_refuses_and_changes_nothing(setup):
    condition = factories.CampaignConditionFactory(
        campaign=setup["campaign"],
        condition_number=2,
        brand=setup["brand"],
        card_value=Decimal("500.00"),
    )
    pool = factories.GiftCardPoolFactory(
        client=setup["client"], brand=setup["brand"], card_value=Decimal("500.00")
    )
    card = factories.GiftCardFactory(pool=pool)
    before = snapshot(pool)

    with pytest.raises(InsufficientCredit):
        claim_card_atomic(recipient=setup["recipient"], condition=condition)

    assert snapshot(pool) == before
    card.refresh_from_db()
    assert card.status == GiftCardStatus.AVAILABLE
    assert not GiftCardSale.objects.exists()
    assert credit_account_for(setup["client"]).balance == Decimal("100.00")
    assert not CreditTransaction.objects.filter(amount__lt=0).exists()


@pytest.mark.parametrize("status", [RewardStatus.REJECTED, RewardStatus.REVOKED])
def test_rejected_or_revoked_reward_is_not_claimable(setup, status):
    reward = factories.RecipientGiftCardFactory(
        condition=setup["condition"], recipient=setup["recipient"], status=status
    )
    before = snapshot(setup["pool"])
    with pytest.raises(RewardNotClaimable):
        claim_card_atomic(recipient=setup["recipient"], condition=setup["condition"])
    assert snapshot(setup["pool"]) == before
    reward.refresh_from_db()
    assert reward.status == status


def test_unknown_assignment_source_is_refused(setup):
    with pytest.raises(ValueError):
        claim_card_atomic(
            recipient=setup["recipient"], condition=setup["condition"], assignment_source="x"
        )


def test_mark_awaiting_stock_moves_a_pending_reward_once_and_audits_it(setup):
    condition = factories.CampaignConditionFactory(
        campaign=setup["campaign"], condition_number=2, card_value=Decimal("5.00")
    )
    reward = ensure_reward(recipient=setup["recipient"], condition=condition)
    with pytest.raises(NoCardAvailable) as exc:
        claim_card_atomic(recipient=setup["recipient"], condition=condition)

    mark_awaiting_stock(reward, reason=exc.value)
    mark_awaiting_stock(reward, reason=exc.value)

    reward.refresh_from_db()
    assert reward.status == RewardStatus.AWAITING_STOCK
    alert = GiftCardAuditLog.objects.get(action="low_stock")
    assert (alert.entity_type, alert.entity_id) == ("recipient_gift_card", reward.pk)


# --- claim_pending_rewards ----------------------------------------------------------------------


def test_claim_pending_rewards_claims_every_waiting_reward(setup):
    recipient = setup["recipient"]
    second = factories.CampaignConditionFactory(
        campaign=setup["campaign"], condition_number=2, brand=setup["brand"], card_value=VALUE
    )
    first = ensure_reward(recipient=recipient, condition=setup["condition"])
    later = ensure_reward(recipient=recipient, condition=second)
    RecipientGiftCard.objects.filter(pk=later.pk).update(status=RewardStatus.AWAITING_STOCK)

    claimed = claim_pending_rewards(recipient=recipient)

    assert [r.pk for r in claimed] == [first.pk, later.pk]
    assert all(r.status == RewardStatus.CLAIMED and r.gift_card_id for r in claimed)
    assert GiftCardDelivery.objects.filter(status=DeliveryStatus.QUEUED).count() == 2
    assert claim_pending_rewards(recipient=recipient) == []
    assert_counters_match_cards(setup["pool"])


@pytest.mark.parametrize(
    ("approval", "opt_in"),
    [
        (ApprovalStatus.PENDING, SmsOptInStatus.OPTED_IN),
        (ApprovalStatus.REJECTED, SmsOptInStatus.OPTED_IN),
        (ApprovalStatus.APPROVED, SmsOptInStatus.PENDING),
        (ApprovalStatus.APPROVED, SmsOptInStatus.OPTED_OUT),
    ],
)
def test_claim_pending_rewards_skips_unapproved_or_not_opted_in(setup, approval, opt_in):
    recipient = factories.RecipientFactory(
        campaign=setup["campaign"], approval_status=approval, sms_opt_in_status=opt_in
    )
    reward = ensure_reward(recipient=recipient, condition=setup["condition"])
    before = snapshot(setup["pool"])

    assert claim_pending_rewards(recipient=recipient) == []

    assert snapshot(setup["pool"]) == before
    reward.refresh_from_db()
    assert reward.status == RewardStatus.PENDING


def test_claim_pending_rewards_skips_rejected_and_revoked_rewards(setup):
    recipient = setup["recipient"]
    factories.RecipientGiftCardFactory(
        condition=setup["condition"], recipient=recipient, status=RewardStatus.REVOKED
    )
    assert claim_pending_rewards(recipient=recipient) == []
    assert not GiftCard.objects.filter(status=GiftCardStatus.CLAIMED).exists()


def test_claim_pending_rewards_marks_awaiting_stock_when_the_pool_is_empty(setup):
    recipient = setup["recipient"]
    condition = factories.CampaignConditionFactory(
        campaign=setup["campaign"],
        condition_number=2,
        brand=setup["brand"],
        card_value=Decimal("50.00"),
    )
    pool = factories.GiftCardPoolFactory(
        client=setup["client"], brand=setup["brand"], card_value=Decimal("50.00")
    )
    reward = ensure_reward(recipient=recipient, condition=condition)

    assert claim_pending_rewards(recipient=recipient) == []

    reward.refresh_from_db()
    assert reward.status == RewardStatus.AWAITING_STOCK
    alert = GiftCardAuditLog.objects.get(action="low_stock")
    assert (alert.entity_type, alert.entity_id, alert.client) == (
        "gift_card_pool",
        pool.pk,
        setup["client"],
    )

    factories.GiftCardFactory(pool=pool)
    [claimed] = claim_pending_rewards(recipient=recipient)
    assert claimed.pk == reward.pk and claimed.status == RewardStatus.CLAIMED
    assert_counters_match_cards(pool)


def test_claim_pending_rewards_leaves_a_reward_awaiting_credit_when_credit_is_short(setup):
    recipient = setup["recipient"]
    condition = factories.CampaignConditionFactory(
        campaign=setup["campaign"],
        condition_number=2,
        brand=setup["brand"],
        card_value=Decimal("500.00"),
    )
    factories.GiftCardFactory(
        pool=factories.GiftCardPoolFactory(
            client=setup["client"], brand=setup["brand"], card_value=Decimal("500.00")
        )
    )
    cheap = ensure_reward(recipient=recipient, condition=setup["condition"])
    dear = ensure_reward(recipient=recipient, condition=condition)

    claimed = claim_pending_rewards(recipient=recipient)

    assert [r.pk for r in claimed] == [cheap.pk]
    dear.refresh_from_db()
    assert dear.status == RewardStatus.AWAITING_CREDIT and dear.gift_card is None
    assert GiftCardAuditLog.objects.filter(
        action="claim_refused_insufficient_credit", entity_id=dear.pk
    ).exists()
    assert credit_account_for(setup["client"]).balance == Decimal("75.00")
    # Refused again (the sweep retries it): still waiting, and the refusal is not written twice.
    assert claim_pending_rewards(recipient=recipient) == []
    assert (
        GiftCardAuditLog.objects.filter(
            action="claim_refused_insufficient_credit", entity_id=dear.pk
        ).count()
        == 1
    )


def test_a_card_of_another_value_is_never_given_even_from_a_relabelled_pool(setup):
    """A pool relabelled under its cards (a $15 pool called $100) must not turn a $15 card into
    a $100 reward: the claim takes only a card of the reward's own brand and value."""
    recipient, condition, pool = setup["recipient"], setup["condition"], setup["pool"]
    GiftCard.objects.filter(pool=pool).update(card_value=Decimal("15.00"))

    with pytest.raises(NoCardAvailable):
        claim_card_atomic(recipient=recipient, condition=condition)

    assert not GiftCard.objects.filter(pool=pool).exclude(status=GiftCardStatus.AVAILABLE).exists()
    assert credit_account_for(setup["client"]).balance == Decimal("100.00")
