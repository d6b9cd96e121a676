"""Claim throughput: `claim_card_atomic` against two raw-SQL `FOR UPDATE SKIP LOCKED` claims;
then the dashboard pages at scale (bench/dashboard.py), the imports against PostgreSQL COPY
(bench/imports.py) and the public and webhook paths under gunicorn against a bare view
(bench/web.py), each in its own process and database.

- the minimal claim: take a card and move the pool counter (two rows), no more;
- the full claim by hand: the same rows the service writes (card, reward, recipient, delivery,
  both audit rows, the event, the pool counters, the credit balance, the ledger row and the
  sale), in hand-written SQL over a bare psycopg connection, values computed in the database.

All three run side by side in one run on the same PostgreSQL, each with WORKERS concurrent
processes claiming from one pool, so the figures that matter are the ratios, not the absolute
numbers (which depend on the machine). Duplicates (a card given twice, a reward with two cards)
must be 0.

    make bench            # or: .venv/bin/python bench/run.py [--cards 2000] [--workers 8]
                          #     [--section claims|dashboard|imports|web]

It uses its own database (`mike_bench` on DATABASE_URL's server, default localhost), recreated
on each run.
"""

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DB = "mike_bench"
SERVER = os.environ.get("BENCH_SERVER_URL", "postgres://postgres@127.0.0.1:5432")


def setup_django():
    os.environ["DATABASE_URL"] = f"{SERVER}/{BENCH_DB}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mike.settings")
    os.environ.setdefault("SMS_BACKEND", "locmem")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "True"
    import django

    django.setup()


def recreate_database():
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def prepare(cards: int):
    """A client with credit and, for each method, a pool of `cards` cards; the two methods that
    claim rewards (the service and the full claim by hand) each get a campaign with `cards`
    pending rewards of their pool's brand and value."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    from giftcards.models import GiftCardBrand, GiftCardPool
    from giftcards.services import add_cards_to_pool, allocate_credit
    from mike.accounts.models import Organization
    from recipients.models import Audience

    client = Organization.objects.create(kind="client", name="Bench client", slug="bench")
    allocate_credit(client, Decimal("10000000"))
    audience = Audience.objects.create(client=client, name="Bench audience")
    amazon = GiftCardBrand.objects.get(brand_code="amazon")
    raw_pool = GiftCardPool.objects.create(
        client=client, brand=amazon, card_value=Decimal("10"), pool_name="Raw SQL pool"
    )
    add_cards_to_pool(raw_pool, [f"RAW-{n:07d}" for n in range(cards)])
    condition, _ = rewards_to_claim(
        audience, cards, name="Service", brand_code="starbucks", value="10", phones="+1555"
    )
    hand_condition, _ = rewards_to_claim(
        audience, cards, name="By hand", brand_code="amazon", value="25", phones="+1556"
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # plan every method's statements on real statistics
    return condition.pk, raw_pool.pk, hand_condition.pk


def rewards_to_claim(audience, cards: int, *, name, brand_code, value, phones):
    """A campaign of `audience`'s client with one condition, a pool of `cards` cards of its brand
    and value, and `cards` recipients whose reward for the condition is pending."""
    from campaigns.models import Campaign, CampaignCondition
    from giftcards.models import GiftCardBrand, GiftCardPool, RecipientGiftCard
    from giftcards.services import add_cards_to_pool
    from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus

    client = audience.client
    brand = GiftCardBrand.objects.get(brand_code=brand_code)
    campaign = Campaign.objects.create(client=client, name=name, audience=audience)
    condition = CampaignCondition.objects.create(
        campaign=campaign,
        condition_number=1,
        condition_name="c",
        brand=brand,
        card_value=Decimal(value),
    )
    pool = GiftCardPool.objects.create(
        client=client, brand=brand, card_value=Decimal(value), pool_name=f"{name} pool"
    )
    add_cards_to_pool(pool, [f"{brand_code.upper()}-{value}-{n:07d}" for n in range(cards)])
    recipients = Recipient.objects.bulk_create(
        Recipient(
            audience=audience,
            campaign=campaign,
            phone=f"{phones}{n:07d}",
            approval_status=ApprovalStatus.APPROVED,
            sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        )
        for n in range(cards)
    )
    # Each recipient has met the condition, been approved and opted in: its reward is pending,
    # as mike.rewards.conditions.mark_condition_met leaves it, and the claim is the next step.
    RecipientGiftCard.objects.bulk_create(
        RecipientGiftCard(
            recipient=recipient,
            condition=condition,
            campaign=campaign,
            brand=brand,
            card_value=condition.card_value,
        )
        for recipient in recipients
    )
    return condition, pool


def service_worker(args):
    worker, workers, condition_id = args
    setup_django()
    from campaigns.models import CampaignCondition
    from giftcards.services import claim_card_atomic
    from recipients.models import Recipient

    condition = CampaignCondition.objects.select_related("campaign", "brand").get(pk=condition_id)
    recipients = list(
        Recipient.objects.filter(campaign_id=condition.campaign_id)
        .select_related("audience")
        .order_by("pk")
    )
    mine = recipients[worker::workers]
    start = time.perf_counter()
    for recipient in mine:
        claim_card_atomic(recipient=recipient, condition=condition)
    return len(mine), time.perf_counter() - start


RAW_CLAIM = """
UPDATE giftcards_giftcard SET status = 'claimed', claimed_at = now()
WHERE id = (
    SELECT id FROM giftcards_giftcard
    WHERE pool_id = %s AND status = 'available'
    ORDER BY created_at LIMIT 1
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


def raw_worker(args):
    worker, workers, pool_id, count = args
    setup_django()
    from django.db import connection, transaction

    mine = len(range(worker, count, workers))
    start = time.perf_counter()
    for _ in range(mine):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(RAW_CLAIM, [pool_id])
            cursor.fetchone()
            cursor.execute(
                "UPDATE giftcards_giftcardpool SET available_cards = available_cards - 1, "
                "claimed_cards = claimed_cards + 1 WHERE id = %s",
                [pool_id],
            )
    return mine, time.perf_counter() - start


# The full claim by hand: what claim_card_atomic writes, as one would write it straight in SQL.
# Timestamps and the JSON of the audit rows come from the database; the keys of the new rows are
# time-ordered UUIDs made in Python, as the service's are; values that are fixed for this
# benchmark (delivery by SMS, a call-centre assignment) are literals. Like the service, the lock
# step also finds the client's pool of the reward's brand and value.
FULL_LOCK = """
SELECT r.phone, a.client_id, rw.id, rw.campaign_id, rw.card_value,
    (SELECT p.id FROM giftcards_giftcardpool p
     WHERE p.client_id = a.client_id AND p.brand_id = rw.brand_id
        AND p.card_value = rw.card_value AND p.is_active AND NOT p.is_master_pool
     ORDER BY p.created_at LIMIT 1)
FROM recipients_recipient r
JOIN recipients_audience a ON a.id = r.audience_id
JOIN giftcards_recipientgiftcard rw ON rw.recipient_id = r.id AND rw.condition_id = %(condition)s
WHERE r.id = %(recipient)s AND rw.gift_card_id IS NULL
FOR UPDATE OF r, rw
"""

FULL_CLAIM = """
WITH card AS (
    UPDATE giftcards_giftcard SET status = 'claimed', claimed_at = now(), updated_at = now(),
        claimed_by_recipient_id = %(recipient)s, assignment_source = 'call_center',
        assignment_campaign_id = %(campaign)s, assignment_condition_id = %(condition)s
    WHERE id = (
        SELECT id FROM giftcards_giftcard
        WHERE pool_id = %(pool)s AND status = 'available'
        ORDER BY created_at LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, pool_id
), reward AS (
    UPDATE giftcards_recipientgiftcard SET gift_card_id = card.id, status = 'claimed',
        assigned_at = now(), delivery_method = 'sms', delivery_address = %(phone)s,
        updated_at = now()
    FROM card WHERE giftcards_recipientgiftcard.id = %(reward)s RETURNING 1
), recipient AS (
    UPDATE recipients_recipient SET gift_card_assigned_id = card.id, updated_at = now()
    FROM card WHERE recipients_recipient.id = %(recipient)s RETURNING 1
), delivery AS (
    INSERT INTO giftcards_giftcarddelivery (id, created_at, updated_at, condition_number,
        delivery_method, delivery_address, status, sms_message, sms_status, error_message,
        failure_reason, retry_count, max_retries, next_attempt_at, campaign_id, gift_card_id,
        recipient_id, reward_id)
    SELECT %(key_delivery)s::uuid, now(), now(), 1, 'sms', %(phone)s, 'queued', '', '', '', '', 0, 5,
        now(), %(campaign)s, card.id, %(recipient)s, %(reward)s
    FROM card RETURNING id
), card_audit AS (
    INSERT INTO giftcards_giftcardauditlog (id, created_at, updated_at, action, entity_type,
        entity_id, changes, metadata, client_id)
    SELECT %(key_card_audit)s::uuid, now(), now(), 'card_claimed', 'gift_card', card.id,
        '{"status": ["available", "claimed"]}',
        jsonb_build_object('reward', %(reward)s::text, 'recipient', %(recipient)s::text,
            'delivery', delivery.id::text, 'assignment_source', 'call_center',
            'pool', card.pool_id::text),
        %(client)s
    FROM card, delivery RETURNING 1
), recipient_audit AS (
    INSERT INTO recipients_recipientauditlog (id, created_at, updated_at, action, user_agent,
        metadata, recipient_id)
    SELECT %(key_recipient_audit)s::uuid, now(), now(), 'gift_card_assigned', '',
        jsonb_build_object('reward', %(reward)s::text, 'condition_number', 1,
            'card_value', %(value)s::text, 'gift_card', card.id::text),
        %(recipient)s
    FROM card RETURNING 1
), event AS (
    INSERT INTO campaigns_event (id, created_at, updated_at, event_type, event_data,
        occurred_at, source, campaign_id, client_id, recipient_id)
    SELECT %(key_event)s::uuid, now(), now(), 'claimed',
        jsonb_build_object('reward', %(reward)s::text, 'condition_number', 1,
            'card_value', %(value)s::text, 'gift_card', card.id::text),
        now(), 'call', %(campaign)s, %(client)s, %(recipient)s
    FROM card RETURNING 1
), pool AS (
    UPDATE giftcards_giftcardpool SET available_cards = available_cards - 1,
        claimed_cards = claimed_cards + 1
    FROM card, reward, recipient, card_audit, recipient_audit, event
    WHERE giftcards_giftcardpool.id = card.pool_id RETURNING 1
), credit AS (
    UPDATE giftcards_creditaccount SET balance = balance - %(value)s FROM pool
    WHERE organization_id = %(client)s AND balance - %(value)s >= 0
    RETURNING giftcards_creditaccount.id, balance + %(value)s AS balance_before,
        balance AS balance_after
), ledger AS (
    INSERT INTO giftcards_credittransaction (id, created_at, updated_at, transaction_type,
        amount, balance_before, balance_after, reference_type, reference_id, description,
        metadata, account_id)
    SELECT %(key_ledger)s::uuid, now(), now(), 'purchase', -%(value)s, credit.balance_before,
        credit.balance_after, 'reward', %(reward)s, 'Gift card claimed', '{}', credit.id
    FROM credit RETURNING id
), sale AS (
    INSERT INTO giftcards_giftcardsale (id, created_at, updated_at, quantity, price_per_card,
        total_amount, cost_per_card, margin, currency, notes, client_id, credit_transaction_id,
        pool_id, reward_id)
    SELECT %(key_sale)s::uuid, now(), now(), 1, %(value)s, %(value)s,
        round(%(value)s * 0.95, 2), %(value)s - round(%(value)s * 0.95, 2), 'USD', '',
        %(client)s, ledger.id, card.pool_id, %(reward)s
    FROM card, ledger RETURNING 1
)
SELECT card.id, credit.balance_after FROM card LEFT JOIN credit ON true
"""


NEW_ROWS = ("delivery", "card_audit", "recipient_audit", "event", "ledger", "sale")


def full_sql_worker(args):
    """The full claim by hand over a bare psycopg connection (its own server-side binding and
    prepared statements), one transaction per reward: lock the recipient and the reward, then
    one statement for every row, then COMMIT."""
    worker, workers, condition_id = args
    import uuid

    import psycopg
    import uuid6

    with psycopg.connect(f"{SERVER}/{BENCH_DB}") as conn:
        recipient_ids = [
            recipient_id
            for (recipient_id,) in conn.execute(
                "SELECT recipient_id FROM giftcards_recipientgiftcard WHERE condition_id = %s "
                "ORDER BY recipient_id",
                [condition_id],
            )
        ]
        conn.commit()
        mine = recipient_ids[worker::workers]
        start = time.perf_counter()
        for recipient_id in mine:
            with conn.transaction():
                phone, client_id, reward_id, campaign_id, value, pool_id = conn.execute(
                    FULL_LOCK, {"recipient": recipient_id, "condition": condition_id}
                ).fetchone()
                keys = {f"key_{name}": uuid.UUID(int=uuid6.uuid7().int) for name in NEW_ROWS}
                claimed = conn.execute(
                    FULL_CLAIM,
                    {
                        "recipient": recipient_id,
                        "condition": condition_id,
                        "pool": pool_id,
                        "phone": phone,
                        "client": client_id,
                        "reward": reward_id,
                        "campaign": campaign_id,
                        "value": value,
                        **keys,
                    },
                ).fetchone()
                if claimed is None or claimed[1] is None:
                    raise RuntimeError("the hand-written claim found no card or no credit")
        return len(mine), time.perf_counter() - start


def settle():
    """VACUUM and ANALYZE the benchmark database, so each method starts from the same state: the
    dead row versions an earlier method left on the shared hot rows (the pool and credit rows
    every claim updates) would otherwise slow whichever method runs later."""
    import psycopg

    with psycopg.connect(f"{SERVER}/{BENCH_DB}", autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def run(pool_size, target, jobs):
    """Claims and the slowest worker's claiming time (process start-up and Django set-up are
    excluded: they are the same for every method and not what is measured)."""
    settle()
    with mp.get_context("spawn").Pool(pool_size) as pool:
        results = pool.map(target, jobs)
    return sum(n for n, _ in results), max(elapsed for _, elapsed in results)


def check(connection, *, cards, conditions) -> list[str]:
    """What must hold after a round: no card given twice, no reward with two cards, every
    reward of each method given its card, every pool's counter equal to its cards."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) - count(DISTINCT gift_card_id) FROM giftcards_recipientgiftcard "
            "WHERE gift_card_id IS NOT NULL"
        )
        duplicate_cards = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM (SELECT recipient_id FROM giftcards_recipientgiftcard "
            "GROUP BY recipient_id, condition_id HAVING count(*) > 1) d"
        )
        duplicate_rewards = cursor.fetchone()[0]
        cursor.execute(
            "SELECT rw.condition_id, count(*) FROM giftcards_recipientgiftcard rw "
            "JOIN giftcards_giftcard c ON c.id = rw.gift_card_id AND c.status = 'claimed' "
            "GROUP BY rw.condition_id"
        )
        claimed = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FROM giftcards_giftcardpool p WHERE p.available_cards <> "
            "(SELECT count(*) FROM giftcards_giftcard c WHERE c.pool_id = p.id "
            "AND c.status = 'available')"
        )
        counters_off = cursor.fetchone()[0]
    problems = []
    if duplicate_cards or duplicate_rewards:
        problems.append(
            f"duplicates (card twice / reward twice): {duplicate_cards} / {duplicate_rewards}"
        )
    for name, condition_id in conditions.items():
        if claimed.get(condition_id, 0) != cards:
            problems.append(
                f"{name}: {claimed.get(condition_id, 0)} of {cards} rewards given a card"
            )
    if counters_off:
        problems.append(f"{counters_off} pools whose counter differs from their cards")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--section", choices=("all", "claims", "dashboard", "imports", "web"), default="all"
    )
    options = parser.parse_args()
    if options.section in ("all", "claims"):
        claims(options)
    if options.section in ("all", "dashboard"):
        # Its own process: Django is set up there on the dashboard's own database.
        print("\ndashboard pages at scale (bench/dashboard.py):", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "dashboard.py")], check=True)
    if options.section in ("all", "imports"):
        print("\nimports against COPY (bench/imports.py):", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "imports.py")], check=True)
    if options.section in ("all", "web"):
        print("\npublic and webhook paths under gunicorn (bench/web.py):", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "web.py")], check=True)


def claims(options):
    w = options.workers
    methods = ["minimal", "full", "service"]
    rates = {name: [] for name in methods}
    print(f"workers: {w}, claims per method and round: {options.cards}, rounds: {options.rounds}")
    for round_number in range(options.rounds):
        # A fresh database each round; the methods take turns at going first, since whatever
        # else the machine runs meanwhile moves the absolute figures.
        recreate_database()
        setup_django()
        condition_id, raw_pool_id, hand_condition_id = prepare(options.cards)
        from django.db import connection

        connection.close()
        jobs = {
            "minimal": (raw_worker, [(i, w, raw_pool_id, options.cards) for i in range(w)]),
            "full": (full_sql_worker, [(i, w, hand_condition_id) for i in range(w)]),
            "service": (service_worker, [(i, w, condition_id) for i in range(w)]),
        }
        order = methods[round_number % 3 :] + methods[: round_number % 3]
        for name in order:
            target, args = jobs[name]
            claims, wall = run(w, target, args)
            rates[name].append(claims / wall)
        problems = check(
            connection,
            cards=options.cards,
            conditions={"service": condition_id, "full claim by hand": hand_condition_id},
        )
        connection.close()
        print(
            f"round {round_number + 1} ({', '.join(order)} in turn): "
            + ", ".join(f"{name} {rates[name][-1]:.1f}/s" for name in methods)
            + f"; {'; '.join(problems) if problems else 'no duplicates, nothing lost'}"
        )
        if problems:
            sys.exit("FAILED: " + "; ".join(problems))

    median = {name: statistics.median(values) for name, values in rates.items()}
    full_ratios = [s / f for s, f in zip(rates["service"], rates["full"], strict=True)]
    minimal_ratios = [s / m for s, m in zip(rates["service"], rates["minimal"], strict=True)]
    print(f"minimal raw SQL claim (2 rows):    {median['minimal']:8.1f} claims/s (median)")
    print(f"full claim in raw SQL (11 rows):   {median['full']:8.1f} claims/s (median)")
    print(f"claim_card_atomic (11 rows):       {median['service']:8.1f} claims/s (median)")
    print(
        f"ratio service / full raw SQL:      {statistics.median(full_ratios):8.2f}x "
        f"(rounds: {', '.join(f'{r:.2f}' for r in full_ratios)})"
    )
    print(
        f"ratio service / minimal raw SQL:   {statistics.median(minimal_ratios):8.2f}x "
        f"(rounds: {', '.join(f'{r:.2f}' for r in minimal_ratios)})"
    )
    print("duplicates (card twice / reward twice): 0 / 0 in every round")


if __name__ == "__main__":
    main()
