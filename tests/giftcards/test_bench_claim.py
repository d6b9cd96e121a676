"""The benchmark's hand-written full claim (bench/run.py) still fits the schema: it runs against
the tables as the migrations leave them and writes every row a claim writes, so `make bench`
keeps comparing like with like. A column added without a default breaks it here first."""

import importlib.util
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from campaigns.models import Event
from giftcards.models import (
    CreditTransaction,
    GiftCardAuditLog,
    GiftCardDelivery,
    GiftCardPool,
    GiftCardSale,
    GiftCardStatus,
    RewardStatus,
)
from giftcards.services import allocate_credit, credit_account_for
from recipients.models import RecipientAuditLog
from tests import factories

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_the_hand_written_claim_writes_every_row_of_a_claim():
    bench = load_bench()
    value = Decimal("25.00")
    client = factories.ClientFactory()
    campaign = factories.CampaignFactory(client=client)
    brand = factories.GiftCardBrandFactory()
    condition = factories.CampaignConditionFactory(campaign=campaign, brand=brand, card_value=value)
    pool = factories.GiftCardPoolFactory(client=client, brand=brand, card_value=value)
    card = factories.GiftCardFactory(pool=pool)
    allocate_credit(client, Decimal("100.00"))
    reward = factories.RecipientGiftCardFactory(condition=condition)
    recipient = reward.recipient

    with connection.cursor() as cursor:
        cursor.execute(bench.FULL_LOCK, {"recipient": recipient.pk, "condition": condition.pk})
        phone, client_id, reward_id, campaign_id, card_value, pool_id = cursor.fetchone()
        assert pool_id == pool.pk
        keys = {f"key_{name}": uuid.uuid4() for name in bench.NEW_ROWS}
        cursor.execute(
            bench.FULL_CLAIM,
            {
                **keys,
                "recipient": recipient.pk,
                "condition": condition.pk,
                "pool": pool_id,
                "phone": phone,
                "client": client_id,
                "reward": reward_id,
                "campaign": campaign_id,
                "value": card_value,
            },
        )
        claimed_id, balance_after = cursor.fetchone()

    assert claimed_id == card.pk and balance_after == Decimal("75.00")
    card.refresh_from_db()
    reward.refresh_from_db()
    assert card.status == GiftCardStatus.CLAIMED and card.claimed_by_recipient_id == recipient.pk
    assert reward.status == RewardStatus.CLAIMED and reward.gift_card_id == card.pk
    pool = GiftCardPool.objects.get(pk=pool.pk)
    assert (pool.available_cards, pool.claimed_cards) == (0, 1)
    assert credit_account_for(client).balance == Decimal("75.00")
    assert GiftCardDelivery.objects.get(reward=reward, gift_card=card).pk == keys["key_delivery"]
    assert GiftCardAuditLog.objects.filter(entity_id=card.pk, action="card_claimed").count() == 1
    assert RecipientAuditLog.objects.filter(recipient=recipient).count() == 1
    assert Event.objects.filter(recipient=recipient, event_type="claimed").count() == 1
    ledger = CreditTransaction.objects.get(reference_id=reward.pk)
    assert (ledger.amount, ledger.balance_before, ledger.balance_after) == (
        -value,
        Decimal("100.00"),
        Decimal("75.00"),
    )
    assert GiftCardSale.objects.get(reward=reward).credit_transaction_id == ledger.pk
