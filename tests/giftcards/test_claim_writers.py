"""The two claim writers (one PostgreSQL statement, or the ORM a row at a time) write the same
rows: every column of the card, the reward, the recipient, the delivery, both audit rows, the
event, the ledger row, the sale and the pool counters, apart from keys and timestamps."""

import uuid
from decimal import Decimal

import pytest
from django.db import connection

from campaigns.models import Event
from giftcards.models import (
    CreditTransaction,
    GiftCard,
    GiftCardAuditLog,
    GiftCardDelivery,
    GiftCardPool,
    GiftCardSale,
    RecipientGiftCard,
)
from giftcards.services import allocate_credit, claim_card_atomic, claim_sql, credit_account_for
from mike.core.prepared import native, prepared_cursor
from recipients.models import ApprovalStatus, Recipient, RecipientAuditLog, SmsOptInStatus
from tests import factories

VALUE = Decimal("15.00")
TIMESTAMPS = {
    "created_at",
    "updated_at",
    "claimed_at",
    "assigned_at",
    "next_attempt_at",
    "enqueued_at",
    "occurred_at",
}
# What makes two cards two cards: their codes differ, whoever claims them.
CARD_OWN = {"code_hash", "code_encrypted", "code_last4"}


def row(instance, names: dict) -> dict:
    """Every column of `instance` as plain values, with the claim's own keys replaced by names
    (so two claims compare equal) and timestamps reduced to whether they are set."""

    def plain(value):
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return names.get(str(value), value)

    values = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if field.attname == "id" or field.attname in TIMESTAMPS:
            values[field.attname] = value is not None
        else:
            values[field.attname] = plain(value)
    return values


def client_condition():
    """A client, its campaign, a brand and the campaign's condition rewarding VALUE of it."""
    client = factories.ClientFactory()
    campaign = factories.CampaignFactory(client=client)
    brand = factories.GiftCardBrandFactory()
    condition = factories.CampaignConditionFactory(campaign=campaign, brand=brand, card_value=VALUE)
    return client, campaign, brand, condition


def claimant(campaign):
    """A recipient of the campaign, approved and opted in: ready to be given a card."""
    return factories.RecipientFactory(
        campaign=campaign,
        approval_status=ApprovalStatus.APPROVED,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
    )


def claim_and_describe(settings, *, single_statement: bool, recipient, condition, call):
    settings.GIFTCARD_CLAIM_SQL = single_statement
    account = credit_account_for(condition.campaign.client)
    balance_before = account.balance
    card = claim_card_atomic(recipient=recipient, condition=condition, call_session=call)
    reward = RecipientGiftCard.objects.get(recipient=recipient, condition=condition)
    delivery = GiftCardDelivery.objects.get(reward=reward)
    ledger = CreditTransaction.objects.get(reference_id=reward.pk)
    names = {
        str(recipient.pk): "recipient",
        str(reward.pk): "reward",
        str(card.pk): "card",
        str(delivery.pk): "delivery",
        str(ledger.pk): "ledger",
        str(call.pk): "call",
        recipient.phone: "phone",
    }
    described = {
        "card": {
            key: value
            for key, value in row(GiftCard.objects.get(pk=card.pk), names).items()
            if key not in CARD_OWN
        },
        "reward": row(reward, names),
        "recipient": {
            key: value
            for key, value in row(Recipient.objects.get(pk=recipient.pk), names).items()
            if key in {"gift_card_assigned_id", "updated_at"}
        },
        "delivery": row(delivery, names),
        "card_audit": row(GiftCardAuditLog.objects.get(entity_id=card.pk), names),
        "recipient_audit": row(RecipientAuditLog.objects.get(recipient=recipient), names),
        "event": row(Event.objects.get(recipient=recipient), names),
        "ledger": row(ledger, names),
        "sale": row(GiftCardSale.objects.get(reward=reward), names),
    }
    # The balances differ between the two claims by design (the second starts lower); what must
    # hold for both is that the ledger row records the move of the balance it made.
    assert described["ledger"].pop("balance_before") == balance_before
    assert described["ledger"].pop("balance_after") == balance_before - VALUE
    account.refresh_from_db()
    assert account.balance == balance_before - VALUE
    return described


@pytest.mark.django_db
def test_both_writers_write_the_same_rows(settings):
    client, campaign, brand, condition = client_condition()
    pool = factories.GiftCardPoolFactory(client=client, brand=brand, card_value=VALUE)
    for _ in range(2):
        factories.GiftCardFactory(pool=pool)
    allocate_credit(client, Decimal("100.00"))
    first, second = (claimant(campaign) for _ in range(2))
    calls = [factories.CallSessionFactory(campaign=campaign, recipient=r) for r in (first, second)]

    by_statement = claim_and_describe(
        settings, single_statement=True, recipient=first, condition=condition, call=calls[0]
    )
    by_orm = claim_and_describe(
        settings, single_statement=False, recipient=second, condition=condition, call=calls[1]
    )

    for table in by_statement:
        assert by_statement[table] == by_orm[table], table
    pool = GiftCardPool.objects.get(pk=pool.pk)
    assert (pool.total_cards, pool.available_cards, pool.claimed_cards) == (2, 0, 2)


def prepared_claim_statements() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [statement for (statement,) in cursor.fetchall()]
    return {
        name
        for name, start in (("lock", "WITH locked_recipient"), ("write", "WITH card AS"))
        if any(statement.startswith(start) for statement in statements)
    }


@pytest.mark.django_db
def test_claims_stay_right_once_their_statements_are_prepared(settings):
    """The claim's two statements are sent with their values apart and prepared after
    PREPARE_THRESHOLD runs on a connection, even with many other statements in
    between; PostgreSQL may then run them on a generic plan. Claims made before and after that
    point take distinct cards from the client's two pools: the older pool's first, oldest card
    first, then the other's; the counters hold. Nothing else on the connection is prepared or
    counted for preparing."""
    threshold = settings.PREPARE_THRESHOLD
    assert threshold is not None and threshold < 8
    settings.GIFTCARD_CLAIM_SQL = True
    client, campaign, brand, condition = client_condition()
    pools = [
        factories.GiftCardPoolFactory(client=client, brand=brand, card_value=VALUE)
        for _ in range(2)
    ]
    cards = [factories.GiftCardFactory(pool=pools[n % 2]) for n in range(10)]
    allocate_credit(client, Decimal("1000.00"))
    claimed = []
    for _ in range(10):
        recipient = claimant(campaign)
        claimed.append(claim_card_atomic(recipient=recipient, condition=condition).pk)
        # Other work on the connection between claims: more distinct statements than psycopg
        # keeps count of (100), each a new text since Django binds values client-side.
        for n in range(120):
            Recipient.objects.filter(phone=f"+1555000{n:04d}").exists()

    assert prepared_claim_statements() == {"lock", "write"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == 2
    assert connection.connection.prepare_threshold is None  # Django's own setting, left alone
    assert claimed == [card.pk for card in cards[0::2] + cards[1::2]]
    for pool in GiftCardPool.objects.filter(pk__in=[p.pk for p in pools]):
        assert (pool.available_cards, pool.claimed_cards) == (0, 5)
    assert credit_account_for(client).balance == Decimal("1000.00") - 10 * VALUE


def test_statements_take_postgresql_numbered_placeholders():
    assert native("a = %s AND b IN (%s, %s)") == "a = $1 AND b IN ($2, $3)"


@pytest.mark.django_db
def test_the_card_is_found_through_the_available_cards_index_on_a_generic_plan(settings):
    """A pool's claimed cards are its oldest, so a scan in created_at order over all its cards
    would pass every claimed card before the first available one, on every claim. On the plan
    PostgreSQL keeps for the prepared statement (generic: no pool id known), with statistics taken
    while every card was still available, the claim still reaches its card through the partial
    index of available cards."""
    settings.GIFTCARD_CLAIM_SQL = True
    client, campaign, brand, condition = client_condition()
    pool = factories.GiftCardPoolFactory(client=client, brand=brand, card_value=VALUE)
    other = factories.GiftCardPoolFactory(client=client, card_value=VALUE)
    for _ in range(40):
        factories.GiftCardFactory(pool=pool)
        factories.GiftCardFactory(pool=other)
    allocate_credit(client, Decimal("1000.00"))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {GiftCard._meta.db_table}")

    def claim():
        recipient = claimant(campaign)
        return claim_card_atomic(recipient=recipient, condition=condition)

    for _ in range(30):
        claim()
    captured = []

    def capture(execute, sql, params, many, context):
        if sql.startswith("WITH card AS"):
            captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        claim()
    statement, params = captured[0]

    from psycopg import sql as psql

    raw = connection.connection
    values = ", ".join(psql.Literal(value).as_string(raw) for value in params)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE claim_plan AS {statement}")
        cursor.execute(f"EXPLAIN EXECUTE claim_plan({values})")
        plan = "\n".join(line for (line,) in cursor.fetchall())
        cursor.execute("DEALLOCATE claim_plan")
    card_scan = [line for line in plan.splitlines() if f"on {GiftCard._meta.db_table} " in line]
    assert any("giftcard_pool_available" in line for line in card_scan), plan


@pytest.mark.django_db
def test_a_value_too_long_for_its_column_is_refused_not_cut_short():
    """The statement casts each value to its column's type; a string cast keeps no length, so
    the column refuses a longer value (as it refuses the ORM writer's) instead of the cast
    cutting it short."""
    from django.db import DataError, transaction

    audit = GiftCardAuditLog(
        action="x" * 500, entity_type="gift_card", entity_id=uuid.uuid4(), changes={}, metadata={}
    )
    sql, params = claim_sql._insert_select(
        audit, source="(SELECT 1) AS one", computed={}, db=connection
    )
    with pytest.raises(DataError), transaction.atomic(), prepared_cursor() as cursor:
        cursor.execute(native(sql), params)
    assert not GiftCardAuditLog.objects.filter(entity_id=audit.entity_id).exists()
