"""Provider purchases off the happy path: a reward rejected or revoked while the provider answers,
a refusal arriving for a revoked reward, the lock order of a purchase, and the client's credit.

Each of these lost money or texted a card on the old code: the card paid for was rolled back
with the claim (recorded nowhere), a rejected recipient was texted the settled card, a refusal
revived a revoked reward, and the purchase locked the reward before the recipient.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connections
from werkzeug import Request

from giftcards.models import (
    CardSource,
    CreditTransaction,
    GiftCard,
    GiftCardAuditLog,
    GiftCardDelivery,
    GiftCardStatus,
    PurchaseMethod,
    PurchaseStatus,
    RecipientGiftCard,
    RewardStatus,
)
from giftcards.services import allocate_credit, credit_account_for, ensure_reward, post_credit
from giftcards.services.purchase import purchase_for_reward, settle_pending_purchases
from giftcards.services.revocation import revoke_reward
from mike.rewards.approval import reject_recipient
from mike.rewards.claims import allocate_credit as top_up
from mike.rewards.claims import claim_pending_rewards
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus
from tests import factories
from tests.fakes.tillo import API_KEY, SECRET, FakeTillo
from tests.rewards.concurrency import another_backend_waits_for_a_lock, in_thread

VALUE = Decimal("10.00")


def world(*, credit="500.00"):
    client = factories.ClientFactory()
    if credit:
        allocate_credit(client, Decimal(credit))
    condition = factories.CampaignConditionFactory(campaign__client=client, card_value=VALUE)
    pool = factories.GiftCardPoolFactory(
        client=client,
        brand=condition.brand,
        card_value=VALUE,
        purchase_method=PurchaseMethod.API_ONLY,
        provider="tillo",
    )
    recipient = factories.RecipientFactory(
        campaign=condition.campaign,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )
    reward = ensure_reward(recipient=recipient, condition=condition)
    return pool, recipient, reward


def stocked(reward, pool):
    """The card bought for `reward` is in `pool` as available stock, counted, audited, not
    charged to the client and not sent to anyone."""
    reward.refresh_from_db()
    pool.refresh_from_db()
    [card] = GiftCard.objects.filter(pool=pool, source=CardSource.PROVIDER)
    assert card.status == GiftCardStatus.AVAILABLE
    assert reward.gift_card_id is None and reward.purchase_status == PurchaseStatus.ISSUED
    assert (pool.total_cards, pool.available_cards, pool.claimed_cards) == (1, 1, 0)
    assert GiftCardAuditLog.objects.filter(
        action="purchased_card_stocked", entity_id=card.pk, metadata__reward=str(reward.pk)
    ).exists()
    assert not GiftCardDelivery.objects.filter(reward=reward).exists()
    assert not CreditTransaction.objects.filter(amount__lt=0).exists()
    return card


@pytest.fixture
def held_tillo(httpserver, settings):
    """A fake Tillo that answers only when the test lets it (`go`), and tells the test when a
    request arrived (`arrived`)."""
    fake = FakeTillo()
    fake.arrived, fake.go = threading.Event(), threading.Event()

    def handler(request: Request):
        fake.arrived.set()
        fake.go.wait(timeout=20)
        return fake.handle(request)

    httpserver.expect_request("/api/v2/digital/issue", method="POST").respond_with_handler(handler)
    settings.TILLO_BASE_URL = httpserver.url_for("/")
    settings.TILLO_API_KEY, settings.TILLO_SECRET = API_KEY, SECRET
    settings.TILLO_TIMEOUT_SECONDS = 15
    settings.TILLO_MAX_RETRIES = 0
    return fake


@pytest.mark.django_db
def test_a_recipient_rejected_while_the_answer_was_lost_is_not_sent_the_settled_card(tillo):
    pool, recipient, reward = world()
    # The card is issued, and both answers (the first try and its retry) come too late.
    tillo.stall_next = [1.0, 1.0]
    assert claim_pending_rewards(recipient=recipient) == []
    reward.refresh_from_db()
    assert reward.status == RewardStatus.PURCHASE_PENDING
    assert reward.purchase_status == PurchaseStatus.PENDING

    reject_recipient(recipient=recipient, reason="Same household as another winner")
    reward.refresh_from_db()
    assert reward.status == RewardStatus.REJECTED  # rejected at once, the purchase still open

    [outcome] = settle_pending_purchases()

    assert outcome.settled and outcome.delivery is None
    stocked(reward, pool)
    assert reward.status == RewardStatus.REJECTED
    assert credit_account_for(pool.client).balance == Decimal("500.00")
    assert settle_pending_purchases() == []  # settled: nothing left to ask


@pytest.mark.django_db(transaction=True)
def test_a_reward_revoked_during_the_provider_call_keeps_the_card_paid_for(held_tillo):
    pool, recipient, reward = world()
    staff = factories.UserFactory(is_staff=True)
    run = in_thread(lambda: claim_pending_rewards(recipient=recipient))
    assert held_tillo.arrived.wait(timeout=20)

    revoke_reward(reward=reward, by=staff, reason="Duplicate entry found by the client")
    held_tillo.go.set()
    run.join()

    assert run.errors == []
    card = stocked(reward, pool)
    assert reward.status == RewardStatus.REVOKED
    assert held_tillo.issued[reward.provider_request_id]["code"] == card.code


@pytest.mark.django_db(transaction=True)
def test_a_refusal_for_a_reward_revoked_meanwhile_does_not_revive_it(held_tillo):
    pool, recipient, reward = world()
    pool.brand.tillo_brand_code = "unknown-brand"  # the fake refuses it
    pool.brand.save()
    staff = factories.UserFactory(is_staff=True)
    run = in_thread(lambda: claim_pending_rewards(recipient=recipient))
    assert held_tillo.arrived.wait(timeout=20)

    revoke_reward(reward=reward, by=staff, reason="Duplicate entry found by the client")
    held_tillo.go.set()
    run.join()

    assert run.errors == []
    reward.refresh_from_db()
    assert reward.status == RewardStatus.REVOKED
    assert reward.purchase_status == PurchaseStatus.REFUSED


@pytest.mark.django_db(transaction=True)
def test_a_purchase_locks_the_recipient_before_the_reward(tillo):
    """The lock order of every claim (recipient, then reward) holds for a purchase too, so it
    cannot deadlock with reject_recipient (which locks the recipient, then its rewards)."""
    pool, recipient, reward = world()
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                f"SELECT 1 FROM {Recipient._meta.db_table} WHERE id = %s FOR UPDATE",
                [recipient.pk],
            )
            run = in_thread(lambda: purchase_for_reward(reward=reward, pool=pool))
            assert another_backend_waits_for_a_lock(cursor), (
                f"the purchase did not wait: {run.errors}"
            )
            # Waiting for the recipient, the purchase holds no lock on the reward.
            cursor.execute(
                f"SELECT 1 FROM {RecipientGiftCard._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT",
                [reward.pk],
            )
            cursor.execute("ROLLBACK")
        run.join()
    finally:
        other.close()
    assert run.errors == []
    reward.refresh_from_db()
    assert reward.status == RewardStatus.CLAIMED


@pytest.mark.django_db
def test_nothing_is_bought_that_the_client_cannot_pay_for(tillo):
    pool, recipient, reward = world(credit="5.00")

    assert claim_pending_rewards(recipient=recipient) == []

    reward.refresh_from_db()
    assert reward.status == RewardStatus.AWAITING_CREDIT
    assert reward.purchase_status == PurchaseStatus.NONE
    assert tillo.requests == 0


@pytest.mark.django_db
def test_a_card_bought_then_refused_for_credit_is_stock_and_the_reward_waits_for_credit(
    tillo, django_capture_on_commit_callbacks
):
    pool, recipient, reward = world()
    tillo.stall_next = [1.0, 1.0]
    claim_pending_rewards(recipient=recipient)  # bought, both answers lost
    # The client's credit is spent elsewhere before the purchase settles.
    post_credit(credit_account_for(pool.client), Decimal("-495.00"), transaction_type="adjustment")

    settle_pending_purchases()

    reward.refresh_from_db()
    assert reward.status == RewardStatus.AWAITING_CREDIT
    card = GiftCard.objects.get(pool=pool, source=CardSource.PROVIDER)
    assert card.status == GiftCardStatus.AVAILABLE
    # Credit arrives: the stocked card goes to the reward, bought once.
    with django_capture_on_commit_callbacks(execute=True):
        top_up(pool.client, Decimal("50.00"))
    reward.refresh_from_db()
    assert reward.status in (RewardStatus.CLAIMED, RewardStatus.DELIVERED)
    assert reward.gift_card_id == card.pk
    assert len(tillo.issued) == 1
