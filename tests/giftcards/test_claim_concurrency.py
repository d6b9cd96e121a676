"""Many workers, each on its own database connection, claim overlapping rewards from one pool at
once: no card is handed out twice, no reward gets two cards, the pool counters equal the cards and
the credit ledger explains the balance. Workers are threads (one connection each) and, in one
test, separate Python processes."""

import json
import os
import queue
import random
import subprocess
import sys
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Sum

from giftcards.models import (
    CreditTransaction,
    GiftCard,
    GiftCardDelivery,
    GiftCardSale,
    GiftCardStatus,
    RecipientGiftCard,
    RewardStatus,
)
from giftcards.services import (
    CardNotRemovable,
    InsufficientCredit,
    NoCardAvailable,
    allocate_credit,
    claim_card_atomic,
    credit_account_for,
    remove_card_from_pool,
)
from tests import factories

WORKERS = 10
VALUE = Decimal("25.00")


def build(*, recipients: int, conditions: int, cards: int, credit: Decimal):
    client = factories.ClientFactory()
    campaign = factories.CampaignFactory(client=client)
    brand = factories.GiftCardBrandFactory()
    steps = [
        factories.CampaignConditionFactory(
            campaign=campaign, condition_number=n, brand=brand, card_value=VALUE
        )
        for n in range(1, conditions + 1)
    ]
    pool = factories.GiftCardPoolFactory(client=client, brand=brand, card_value=VALUE)
    for _ in range(cards):
        factories.GiftCardFactory(pool=pool)
    people = [factories.RecipientFactory(campaign=campaign) for _ in range(recipients)]
    allocate_credit(client, credit)
    return client, pool, [(r, c) for r in people for c in steps]


def run_claims(jobs):
    """Each job twice, shuffled, spread over WORKERS threads that start together. Returns the
    outcomes: (recipient pk, condition pk, card pk) for each claim, or the exception class."""
    work = queue.Queue()
    for job in random.sample(jobs * 2, len(jobs) * 2):
        work.put(job)
    outcomes = []
    errors = []
    barrier = threading.Barrier(WORKERS)

    def worker():
        try:
            barrier.wait()
            while True:
                try:
                    recipient, condition = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    card = claim_card_atomic(recipient=recipient, condition=condition)
                    outcomes.append((recipient.pk, condition.pk, card.pk))
                except (NoCardAvailable, InsufficientCredit) as exc:
                    outcomes.append(type(exc))
        except Exception as exc:  # anything else fails the test below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung (deadlock?)"
    assert errors == []
    return outcomes


def assert_consistent(client, pool):
    cards = GiftCard.objects.filter(pool=pool)
    claimed = cards.filter(status=GiftCardStatus.CLAIMED)
    rewards = RecipientGiftCard.objects.filter(gift_card__isnull=False)

    # No card twice, no reward with two cards (a reward holds one card; count both sides).
    assert claimed.count() == rewards.count()
    assert rewards.values("gift_card").distinct().count() == rewards.count()
    assert set(rewards.values_list("gift_card", flat=True)) == set(
        claimed.values_list("pk", flat=True)
    )
    # One reward per recipient + condition.
    pairs = Counter(RecipientGiftCard.objects.values_list("recipient", "condition"))
    assert max(pairs.values()) == 1
    # Every claim wrote exactly one sale and one delivery.
    assert GiftCardSale.objects.count() == claimed.count()
    assert GiftCardDelivery.objects.count() == claimed.count()
    assert all(r.status == RewardStatus.CLAIMED for r in rewards)
    for card in claimed:
        assert card.claimed_by_recipient_id == card.reward.recipient_id

    pool.refresh_from_db()
    assert pool.total_cards == cards.count()
    assert pool.available_cards == cards.filter(status=GiftCardStatus.AVAILABLE).count()
    assert pool.claimed_cards == claimed.count()

    account = credit_account_for(client)
    ledger = CreditTransaction.objects.filter(account=account)
    assert ledger.aggregate(total=Sum("amount"))["total"] == account.balance
    assert ledger.filter(amount__lt=0).count() == claimed.count()
    assert account.balance >= 0
    return claimed.count()


@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_claims_never_hand_out_a_card_twice():
    """40 rewards (20 recipients × 2 conditions), each claimed by two workers, from 30 cards."""
    client, pool, jobs = build(recipients=20, conditions=2, cards=30, credit=Decimal("5000.00"))

    outcomes = run_claims(jobs)

    claimed = assert_consistent(client, pool)
    assert claimed == min(len(jobs), 30)
    assert pool.available_cards == 0
    assert credit_account_for(client).balance == Decimal("5000.00") - 30 * VALUE
    # Both workers of a claimed reward were given the same card.
    by_reward = {}
    for outcome in outcomes:
        if isinstance(outcome, tuple):
            by_reward.setdefault(outcome[:2], set()).add(outcome[2])
    assert len(by_reward) == 30
    assert all(len(cards) == 1 for cards in by_reward.values())
    assert Counter(o for o in outcomes if not isinstance(o, tuple)) == {NoCardAvailable: 20}


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_stop_at_the_credit_limit_without_overdrawing():
    """40 rewards claimed twice each from 30 cards, but credit for only 12 cards."""
    client, pool, jobs = build(recipients=20, conditions=2, cards=30, credit=Decimal("12") * VALUE)

    outcomes = run_claims(jobs)

    claimed = assert_consistent(client, pool)
    assert claimed == 12
    assert credit_account_for(client).balance == Decimal("0.00")
    assert pool.available_cards == 18
    assert InsufficientCredit in outcomes


# A worker process: sets Django up on the test database, reads its jobs (recipient and condition
# ids) from stdin, says "ready", waits for "go" so all workers start together, claims, and prints
# one JSON outcome per job.
PROCESS_WORKER = """
import json, os, sys
from django.conf import settings
settings.DATABASES["default"]["NAME"] = os.environ["MIKE_CLAIM_TEST_DB"]
import django
django.setup()
from campaigns.models import CampaignCondition
from giftcards.services import InsufficientCredit, NoCardAvailable, claim_card_atomic
from recipients.models import Recipient

jobs = json.loads(sys.stdin.readline())
print("ready", flush=True)
sys.stdin.readline()
outcomes = []
for recipient_id, condition_id in jobs:
    recipient = Recipient.objects.get(pk=recipient_id)
    condition = CampaignCondition.objects.get(pk=condition_id)
    try:
        card = claim_card_atomic(recipient=recipient, condition=condition)
        outcomes.append([recipient_id, condition_id, str(card.pk)])
    except (NoCardAvailable, InsufficientCredit) as exc:
        outcomes.append(type(exc).__name__)
print(json.dumps(outcomes), flush=True)
"""

PROCESSES = 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_from_separate_processes_never_hand_out_a_card_twice():
    """40 rewards, each claimed by two different processes, from 30 cards."""
    client, pool, jobs = build(recipients=20, conditions=2, cards=30, credit=Decimal("5000.00"))
    ids = [[str(r.pk), str(c.pk)] for r, c in jobs]
    random.shuffle(ids)
    # Copy one of job i goes to process i % n, copy two to the next process: every reward is
    # claimed by two processes at about the same time.
    batches = [[] for _ in range(PROCESSES)]
    for i, job in enumerate(ids):
        batches[i % PROCESSES].append(job)
        batches[(i + 1) % PROCESSES].append(job)
    env = {**os.environ, "MIKE_CLAIM_TEST_DB": connection.settings_dict["NAME"]}
    env["DJANGO_SETTINGS_MODULE"] = "mike.settings"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=settings.BASE_DIR,
            env=env,
        )
        for _ in range(PROCESSES)
    ]
    try:
        for proc, batch in zip(procs, batches, strict=True):
            proc.stdin.write(json.dumps(batch) + "\n")
            proc.stdin.flush()
        for proc in procs:
            line = proc.stdout.readline()
            assert line.strip() == "ready", proc.stderr.read()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outcomes = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            outcomes += json.loads(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    claimed = assert_consistent(client, pool)
    assert claimed == 30
    by_reward = {}
    for outcome in outcomes:
        if isinstance(outcome, list):
            by_reward.setdefault(tuple(outcome[:2]), set()).add(outcome[2])
    assert len(by_reward) == 30
    assert all(len(cards) == 1 for cards in by_reward.values())
    assert Counter(o for o in outcomes if isinstance(o, str)) == {"NoCardAvailable": 20}


@pytest.mark.django_db(transaction=True)
def test_cards_removed_by_staff_while_claims_run_are_never_both_removed_and_claimed():
    """20 rewards claimed while other threads remove every card of the 20-card pool."""
    client, pool, jobs = build(recipients=20, conditions=1, cards=20, credit=Decimal("5000.00"))
    cards = list(GiftCard.objects.filter(pool=pool))
    removed, kept, errors = [], [], []

    def remover(mine):
        try:
            for card in mine:
                try:
                    remove_card_from_pool(card=card, reason="test")
                    removed.append(card.pk)
                except CardNotRemovable:
                    kept.append(card.pk)
        except Exception as exc:  # anything else fails the test below
            errors.append(exc)
        finally:
            connection.close()

    removers = [threading.Thread(target=remover, args=(cards[i::2],)) for i in range(2)]
    for t in removers:
        t.start()
    outcomes = run_claims(jobs)
    for t in removers:
        t.join(timeout=60)

    assert errors == []
    claimed = assert_consistent(client, pool)
    claimed_ids = {o[2] for o in outcomes if isinstance(o, tuple)}
    assert claimed == len(claimed_ids) == len(kept)
    assert set(kept) == claimed_ids and not set(removed) & claimed_ids
    assert len(removed) + len(kept) == 20
    assert GiftCard.objects.filter(pool=pool).count() == claimed
