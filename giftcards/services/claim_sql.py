# ruff: noqa: S608 -- only quoted table and column names from model metadata are interpolated;
# every value is a query parameter.
"""The claim's writes on PostgreSQL as one statement (a chain of data-modifying CTEs).

Why hand-written SQL: the portable writer (`claim_orm._write_claim_portable`) sends a statement per
row, about fifteen round trips while the claim holds the card, the recipient and the reward
locked, and the pool and credit rows once it reaches them. Here the card is picked (`FOR UPDATE
SKIP LOCKED`), marked, linked to the reward and the recipient, the delivery, both audit rows and
the event are inserted, the pool counters and the credit balance are moved and the ledger row and
the sale are inserted in one round trip, so the hot rows (pool, credit account) are held from
that statement to COMMIT and no longer. No ORM or library expresses one statement that writes
eleven tables and returns what the database chose.

The rows themselves are not described here: they are the model instances of `ClaimRows`, each
rendered as `INSERT … SELECT` over every concrete field, with only the values the database decides
(the card and its pool, the balance before and after) taken from the CTEs. A field added to a
model is written here without a change; tests/giftcards/test_claim_writers.py proves both writers
write the same rows.

Within the statement the card is locked first (every other CTE reads it), and every claim runs
the same plan, so the pool and credit rows are locked in one order by all claims. The credit
update checks `balance + amount >= 0` under the row lock (PostgreSQL re-checks it on the newest
row version when it had to wait), so the balance cannot go below zero; when it does not cover the
card, the statement's result says so and the caller's transaction is rolled back.
"""

from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections

from mike.core.prepared import native, prepared_cursor
from recipients.models import Audience, Recipient

from ..models import (
    CreditAccount,
    GiftCard,
    GiftCardBrand,
    GiftCardPool,
    GiftCardStatus,
    RecipientGiftCard,
)
from .claim_rows import ClaimInputs
from .credit import InsufficientCredit

CARD_FIELDS = list(GiftCard._meta.concrete_fields)
REWARD_FIELDS = list(RecipientGiftCard._meta.concrete_fields)


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _table(model) -> str:
    return _qn(model._meta.db_table)


@cache
def _columns(model, prefix: str = "") -> str:
    return ", ".join(prefix + _qn(field.column) for field in model._meta.concrete_fields)


@cache
def _lock_statement() -> str:
    recipient, audience = _table(Recipient), _table(Audience)
    reward, pool = _table(RecipientGiftCard), _table(GiftCardPool)
    # The reward's CTE reads the recipient's id from the recipient's CTE, so PostgreSQL locks
    # the recipient row before it reaches the reward row: the lock order of every claim.
    return (
        "WITH locked_recipient AS MATERIALIZED ("
        # A recipient who chose email (reward_by_email) is sent the card there: no phone then.
        "SELECT r.id, CASE WHEN r.reward_by_email AND r.email <> '' THEN '' ELSE r.phone END "
        f"AS phone, r.email, a.client_id FROM {recipient} r "
        f"JOIN {audience} a ON a.id = r.audience_id WHERE r.id = %s FOR UPDATE OF r), "
        "locked_reward AS MATERIALIZED ("
        f"SELECT {_columns(RecipientGiftCard, 'rw.')}, b.brand_name FROM {reward} rw "
        f"JOIN {_table(GiftCardBrand)} b ON b.id = rw.brand_id "
        "WHERE rw.recipient_id = (SELECT id FROM locked_recipient) AND rw.condition_id = %s "
        "FOR UPDATE OF rw) "
        "SELECT r.phone, r.email, r.client_id, "
        f"ARRAY(SELECT p.id FROM {pool} p WHERE p.client_id = r.client_id "
        "AND p.brand_id = rw.brand_id AND p.card_value = rw.card_value "
        "AND NOT p.is_master_pool AND p.is_active ORDER BY p.created_at), "
        f"{_columns(RecipientGiftCard, 'rw.')}, rw.brand_name "
        "FROM locked_recipient r LEFT JOIN locked_reward rw ON true"
    )


def lock_inputs(*, recipient_id, condition_id):
    """The claim's reads, in one statement: lock the recipient row, then its reward for the
    condition (the lock order of every claim), and list the client's active pools of the
    reward's brand and value, oldest first (the same pools as GiftCardPool.objects.for_reward).
    Returns ClaimInputs; raises Recipient.DoesNotExist for an unknown recipient."""
    with prepared_cursor() as cursor:
        cursor.execute(native(_lock_statement()), [recipient_id, condition_id])
        found = cursor.fetchone()
    if found is None:
        raise Recipient.DoesNotExist(f"No recipient {recipient_id}.")
    phone, email, client_id, pool_ids, *reward_values, brand_name = found
    reward = None
    if reward_values[0] is not None:  # the reward's id: NULL when it has no reward yet
        reward = _instance(RecipientGiftCard, REWARD_FIELDS, reward_values)
        reward.brand = GiftCardBrand.from_db(
            connection.alias, ["id", "brand_name"], [reward.brand_id, brand_name]
        )
    return ClaimInputs(phone, email, client_id, reward, pool_ids)


def _instance(model, fields, values):
    """A model instance from a row of `fields`' columns, converted as the ORM converts them."""
    return model.from_db(
        connection.alias,
        [field.attname for field in fields],
        [_from_db(field, value) for field, value in zip(fields, values, strict=True)],
    )


def _prep(field, value, db):
    return field.get_db_prep_save(value, db)


def _param_type(field) -> str:
    """The type a parameter of `field` is cast to (sent apart, a NULL has no type of its own):
    the column's, but a string type without its length, since a cast to `varchar(n)` would cut a
    longer value short where the column refuses it, as it refuses the ORM writer's."""
    db_type = field.cast_db_type(connection)
    if db_type.startswith("varchar("):
        return "varchar"
    if db_type.startswith("char("):
        return "bpchar"
    return db_type


@cache
def _insert_sql(model, source: str, computed: tuple) -> tuple[str, tuple]:
    """`INSERT INTO <model's table> (<every column>) SELECT … FROM <source>` and the fields whose
    own values are its parameters, in order. The fields named in `computed` (pairs of attname
    and SQL over `source`) take their value from that SQL instead; `{value}` in it stands for the
    row's own value (e.g. to extend its JSON). Every parameter is cast (see _param_type)."""
    computed = dict(computed)
    values, param_fields = [], []
    for field in model._meta.concrete_fields:
        placeholder = f"%s::{_param_type(field)}"
        expression = computed.get(field.attname)
        if expression is None:
            values.append(placeholder)
            param_fields.append(field)
        elif "{value}" in expression:
            values.append(expression.replace("{value}", placeholder))
            param_fields.append(field)
        else:
            values.append(expression)
    sql = (
        f"INSERT INTO {_table(model)} ({_columns(model)}) "
        f"SELECT {', '.join(values)} FROM {source} RETURNING {_qn(model._meta.pk.column)}"
    )
    return sql, tuple(param_fields)


def _insert_select(row, *, source: str, computed: dict[str, str], db) -> tuple[str, list]:
    """The row's `INSERT … SELECT` (see _insert_sql) and its parameters: the row's own values,
    prepared as save() prepares them (pre_save sets created_at / updated_at)."""
    sql, fields = _insert_sql(type(row), source, tuple(computed.items()))
    return sql, [_prep(field, field.pre_save(row, add=True), db) for field in fields]


@cache
def _set_sql(model, attnames: tuple) -> tuple[str, tuple]:
    """`<column> = %s, …` for the model's fields named by `attnames`, and those fields."""
    fields = {field.attname: field for field in model._meta.concrete_fields}
    chosen = tuple(fields[attname] for attname in attnames)
    sql = ", ".join(f"{_qn(field.column)} = %s::{_param_type(field)}" for field in chosen)
    return sql, chosen


def _set_clause(model, updates: dict, db) -> tuple[str, list]:
    sql, fields = _set_sql(model, tuple(updates))
    values = updates.values()
    return sql, [_prep(field, value, db) for field, value in zip(fields, values, strict=True)]


def write_claim(rows, *, pool_id, card_id=None) -> GiftCard | None:
    """Write the claim of `rows` in one statement. Returns the claimed card, or None when the
    pool holds no available card (nothing written). Raises InsufficientCredit when the
    client's credit does not cover the card: the statement has written the claim by then, so the
    caller must be inside `transaction.atomic()`, which the exception rolls back."""
    reward = rows.reward
    # The wrapper itself, not the `connection` proxy: preparing ~90 values reads its attributes
    # hundreds of times, and each read through the proxy is a context-local look-up.
    db = connections[DEFAULT_DB_ALIAS]
    card_table = _table(GiftCard)
    card_columns = _columns(GiftCard)
    params: list = []

    card_set, card_params = _set_clause(
        GiftCard, {"status": GiftCardStatus.CLAIMED, **rows.card_updates()}, db
    )
    only_card = " AND id = %s" if card_id is not None else ""
    # One pool per statement: the scan walks the partial index giftcard_pool_available in
    # created_at order and stops at the first unlocked card, where several pools at once would
    # have to sort all their available cards. The card must be of the reward's brand and value
    # whatever the pool says: a card is never given for a promise of another value.
    ctes = [
        f"card AS (UPDATE {card_table} SET {card_set} WHERE id = ("
        f"SELECT id FROM {card_table} WHERE pool_id = %s AND status = 'available' "
        f"AND brand_id = %s AND card_value = %s{only_card} "
        f"ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING {card_columns})"
    ]
    params += card_params + [pool_id, reward.brand_id, reward.card_value]
    if card_id is not None:
        params.append(card_id)

    reward_table = _table(RecipientGiftCard)
    reward_set, reward_params = _set_clause(RecipientGiftCard, rows.reward_updates(), db)
    ctes.append(
        f"reward AS (UPDATE {reward_table} SET gift_card_id = card.id, {reward_set} "
        f"FROM card WHERE {reward_table}.id = %s RETURNING 1)"
    )
    params += reward_params + [reward.pk]

    recipient_table = _table(Recipient)
    ctes.append(
        f"recipient AS (UPDATE {recipient_table} SET gift_card_assigned_id = card.id, "
        f"updated_at = %s FROM card WHERE {recipient_table}.id = %s RETURNING 1)"
    )
    params += [rows.now, rows.recipient_id]

    inserts = [
        ("delivery", rows.delivery, "card", {"gift_card_id": "card.id"}),
        (
            "card_audit",
            rows.card_audit,
            "card",
            {
                "entity_id": "card.id",
                "metadata": "{value} || jsonb_build_object('pool', card.pool_id::text)",
            },
        ),
        (
            "recipient_audit",
            rows.recipient_audit,
            "card",
            {"metadata": "{value} || jsonb_build_object('gift_card', card.id::text)"},
        ),
        (
            "event",
            rows.event,
            "card",
            {"event_data": "{value} || jsonb_build_object('gift_card', card.id::text)"},
        ),
    ]
    for name, row, source, computed in inserts:
        sql, row_params = _insert_select(row, source=source, computed=computed, db=db)
        ctes.append(f"{name} AS ({sql})")
        params += row_params

    # The hot rows. Each is a single UPDATE whose condition is re-checked on the newest row
    # version after a wait (READ COMMITTED), so concurrent claims queue on them only from here to
    # COMMIT, and the credit can never go below zero.
    pool_table = _table(GiftCardPool)
    written = ", ".join(["card", "reward", "recipient"] + [name for name, *_ in inserts])
    ctes.append(
        f"pool AS (UPDATE {pool_table} SET available_cards = available_cards - 1, "
        f"claimed_cards = claimed_cards + 1 FROM {written} WHERE {pool_table}.id = card.pool_id "
        "RETURNING 1)"
    )
    account_table = _table(CreditAccount)
    amount = rows.ledger.amount
    ctes.append(
        f"credit AS (UPDATE {account_table} SET balance = balance + %s FROM pool "
        f"WHERE {account_table}.organization_id = %s AND balance + %s >= 0 "
        f"RETURNING {account_table}.id, balance - %s AS balance_before, balance AS balance_after)"
    )
    params += [amount, rows.client_id, amount, amount]
    for name, row, source, computed in (
        (
            "ledger",
            rows.ledger,
            "credit",
            {
                "account_id": "credit.id",
                "balance_before": "credit.balance_before",
                "balance_after": "credit.balance_after",
            },
        ),
        ("sale", rows.sale, "card, ledger", {"pool_id": "card.pool_id"}),
    ):
        sql, row_params = _insert_select(row, source=source, computed=computed, db=db)
        ctes.append(f"{name} AS ({sql})")
        params += row_params

    statement = (
        "WITH " + ",\n".join(ctes) + f"\nSELECT {_columns(GiftCard, 'card.')}, credit.id, "
        "credit.balance_after "
        "FROM card LEFT JOIN credit ON true"
    )
    with prepared_cursor() as cursor:
        cursor.execute(native(statement), params)
        found = cursor.fetchone()
    if found is None:
        return None
    *card_values, account_id, balance_after = found
    if account_id is None:
        account = CreditAccount.objects.filter(organization_id=rows.client_id).first()
        raise InsufficientCredit(
            account or CreditAccount(organization_id=rows.client_id, balance=0), amount
        )
    card = _instance(GiftCard, CARD_FIELDS, card_values)
    rows.attach_card(card)
    rows.ledger.account_id = account_id
    rows.ledger.balance_after = balance_after
    rows.ledger.balance_before = balance_after - amount
    # The rows the statement inserted are stored rows now, as after save().
    for row in (
        rows.delivery,
        rows.card_audit,
        rows.recipient_audit,
        rows.event,
        rows.ledger,
        rows.sale,
    ):
        row._state.adding = False
        row._state.db = connection.alias
    return card


def _from_db(field, value):
    """The field's from-database conversion, as the ORM applies it to a fetched row."""
    if hasattr(field, "from_db_value"):
        return field.from_db_value(value, None, connection)
    return value
