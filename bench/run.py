"""Claim throughput: `claim_card_atomic` against a bare SQL `FOR UPDATE SKIP LOCKED` claim.

Both run side by side in one run on the same PostgreSQL, each with WORKERS concurrent processes
claiming from one pool, so the figure that matters is the ratio, not the absolute numbers (which
depend on the machine). Duplicates (a card given twice, a reward with two cards) must be 0.

    make bench            # or: .venv/bin/python bench/run.py [--cards 2000] [--workers 8]

It uses its own database (`mike_bench` on DATABASE_URL's server, default localhost), recreated
on each run.
"""

import argparse
import multiprocessing as mp
import os
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
    """A client with credit, two equal pools (one per method) and `cards` rewards for each."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.db import connection

    from campaigns.models import Campaign, CampaignCondition
    from giftcards.models import GiftCardBrand, GiftCardPool, RecipientGiftCard
    from giftcards.services import add_cards_to_pool, allocate_credit
    from mike.accounts.models import Organization
    from recipients.models import ApprovalStatus, Audience, Recipient, SmsOptInStatus

    client = Organization.objects.create(kind="client", name="Bench client", slug="bench")
    allocate_credit(client, Decimal("10000000"))
    starbucks = GiftCardBrand.objects.get(brand_code="starbucks")
    amazon = GiftCardBrand.objects.get(brand_code="amazon")
    audience = Audience.objects.create(client=client, name="Bench audience")
    campaign = Campaign.objects.create(client=client, name="Bench", audience=audience)
    condition = CampaignCondition.objects.create(
        campaign=campaign,
        condition_number=1,
        condition_name="c",
        brand=starbucks,
        card_value=Decimal("10"),
    )
    pool = GiftCardPool.objects.create(
        client=client, brand=starbucks, card_value=Decimal("10"), pool_name="Service pool"
    )
    raw_pool = GiftCardPool.objects.create(
        client=client, brand=amazon, card_value=Decimal("10"), pool_name="Raw SQL pool"
    )
    add_cards_to_pool(pool, [f"SVC-{n:07d}" for n in range(cards)])
    add_cards_to_pool(raw_pool, [f"RAW-{n:07d}" for n in range(cards)])
    recipients = Recipient.objects.bulk_create(
        Recipient(
            audience=audience,
            campaign=campaign,
            phone=f"+1555{n:07d}",
            approval_status=ApprovalStatus.APPROVED,
            sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        )
        for n in range(cards)
    )
    # Each recipient has met the condition, been approved and opted in: its reward is pending,
    # as calls.services.mark_condition_met leaves it, and the claim is the next step.
    RecipientGiftCard.objects.bulk_create(
        RecipientGiftCard(
            recipient=recipient,
            condition=condition,
            campaign=campaign,
            brand=starbucks,
            card_value=condition.card_value,
        )
        for recipient in recipients
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # plan both methods' statements on real statistics
    return condition.pk, raw_pool.pk


def service_worker(args):
    worker, workers, condition_id = args
    setup_django()
    from campaigns.models import CampaignCondition
    from giftcards.services import claim_card_atomic
    from recipients.models import Recipient

    condition = CampaignCondition.objects.select_related("campaign", "brand").get(pk=condition_id)
    recipients = list(Recipient.objects.select_related("audience").order_by("pk"))
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


def run(pool_size, target, jobs):
    """Claims and the slowest worker's claiming time (process start-up and Django set-up are
    excluded: they are the same for both methods and not what is measured)."""
    with mp.get_context("spawn").Pool(pool_size) as pool:
        results = pool.map(target, jobs)
    return sum(n for n, _ in results), max(elapsed for _, elapsed in results)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    options = parser.parse_args()

    recreate_database()
    setup_django()
    condition_id, raw_pool_id = prepare(options.cards)
    from django.db import connection

    connection.close()
    w = options.workers
    raw_n, raw_wall = run(w, raw_worker, [(i, w, raw_pool_id, options.cards) for i in range(w)])
    svc_n, svc_wall = run(w, service_worker, [(i, w, condition_id) for i in range(w)])

    from django.db import connection as conn

    with conn.cursor() as cursor:
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
            "SELECT count(*) FROM giftcards_giftcard WHERE status = 'claimed' AND pool_id <> %s",
            [raw_pool_id],
        )
        claimed = cursor.fetchone()[0]

    raw_rate, svc_rate = raw_n / raw_wall, svc_n / svc_wall
    print(f"workers: {w}, claims per method: {options.cards}")
    print(f"raw SQL SKIP LOCKED claim:  {raw_rate:8.1f} claims/s ({raw_n} in {raw_wall:.2f} s)")
    print(f"claim_card_atomic:          {svc_rate:8.1f} claims/s ({svc_n} in {svc_wall:.2f} s)")
    print(f"ratio service / raw:        {svc_rate / raw_rate:8.2f}x")
    print(f"cards claimed by service:   {claimed} of {options.cards}")
    print(f"duplicates (card twice / reward twice): {duplicate_cards} / {duplicate_rewards}")
    if duplicate_cards or duplicate_rewards or claimed != options.cards:
        sys.exit("FAILED: duplicates found or claims lost")


if __name__ == "__main__":
    main()
