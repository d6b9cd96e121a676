"""insert_rows: COPY on PostgreSQL writes exactly what bulk_create writes, in the caller's
transaction, and a unique conflict is Django's IntegrityError with nothing of the call kept;
insert_values and PreparedRows (rows rendered as COPY text ahead of the insert) write what a new
instance with those values writes."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from uuid6 import uuid7

from giftcards.models import GiftCard, GiftCardPool
from mike.core.bulk import PreparedRows, insert_rows, insert_values
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus
from tests.factories import (
    AudienceFactory,
    CampaignFactory,
    ClientFactory,
    GiftCardBrandFactory,
    GiftCardPoolFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CUSTOM = {
    "external_id": "C-0001",
    "note": "Zoë O’Brien, «VIP», 東京",
    "nested": {"list": [1, 2.5, None, True], "empty": {}},
}


def _row(obj):
    """Every column of a stored row, as the database gives it back."""
    model = type(obj)
    return model.objects.filter(pk=obj.pk).values(
        *[f.attname for f in model._meta.concrete_fields]
    )[0]


def _recipient(audience, campaign, n, **extra):
    return Recipient(
        audience=audience,
        campaign=campaign,
        first_name="Zoë",
        last_name=f"Núñez {n}",
        company="Café & Co",
        address1="1 Rue de l'Église",
        city="Montréal",
        state="QC",
        zip="02139",
        zip4="4307",
        email=f"zoe{n}@example.com",
        phone=f"+1555201{n:04d}",
        validation_details={"checked": True, "score": 0.93},
        geocode={"lat": 42.36, "lng": -71.09},
        custom_fields=CUSTOM,
        approval_status=ApprovalStatus.APPROVED,
        approved_at=datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=ZoneInfo("America/New_York")),
        redemption_ip="203.0.113.7",
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        **extra,
    )


def test_recipients_round_trip_as_bulk_create_writes_them():
    audience = AudienceFactory()
    campaign = CampaignFactory(client=audience.client)
    copied = [_recipient(audience, campaign, 1), _recipient(audience, None, 2)]
    created = [_recipient(audience, campaign, 3), _recipient(audience, None, 4)]
    before = timezone.now()

    insert_rows(Recipient, copied)
    Recipient.objects.bulk_create(created)

    after = timezone.now()
    for obj in copied:
        assert not obj._state.adding and obj._state.db == "default"
        # auto_now_add / auto_now filled through pre_save, on the instance and in the row.
        assert before <= obj.created_at <= after and before <= obj.updated_at <= after
    mine, theirs = [_row(obj) for obj in copied], [_row(obj) for obj in created]
    for row, obj in zip(mine, copied, strict=True):
        assert row["created_at"] == obj.created_at and row["updated_at"] == obj.updated_at
        assert row["id"] == obj.pk and row["token"] == obj.token
        assert row["redemption_code"] == obj.redemption_code
    varying = {"id", "created_at", "updated_at", "token", "redemption_code", "email", "phone"}
    varying |= {"last_name"}
    for row, other in zip(mine, theirs, strict=True):
        assert {k: v for k, v in row.items() if k not in varying} == {
            k: v for k, v in other.items() if k not in varying
        }
    first, second = mine
    assert first["custom_fields"] == CUSTOM
    assert first["validation_details"] == {"checked": True, "score": 0.93}
    assert first["campaign_id"] == campaign.pk and second["campaign_id"] is None
    assert first["audience_id"] == audience.pk
    assert first["approved_at"] == datetime(2026, 3, 1, 14, 30, 15, 123456, tzinfo=ZoneInfo("UTC"))
    assert first["redemption_ip"] == "203.0.113.7"
    assert (first["first_name"], first["city"]) == ("Zoë", "Montréal")
    assert first["sms_opt_in_response_at"] is None and first["contact_id"] is None


def test_text_fields_given_other_types_are_converted_as_bulk_create_converts_them():
    audience = AudienceFactory()
    copied = _recipient(audience, None, 5, delivery_status=404)
    created = _recipient(audience, None, 6, delivery_status=404)
    copied.redemption_ip = created.redemption_ip = "2001:DB8:0:0:0:0:0:1"

    insert_rows(Recipient, [copied])
    Recipient.objects.bulk_create([created])

    assert _row(copied)["delivery_status"] == _row(created)["delivery_status"] == "404"
    assert _row(copied)["redemption_ip"] == _row(created)["redemption_ip"] == "2001:db8::1"


def test_cards_round_trip_decimals_dates_encrypted_codes_and_nullable_keys():
    pool = GiftCardPoolFactory(card_value=Decimal("25.00"))
    user = UserFactory()
    cards = []
    for n, (balance, expires, uploaded_by) in enumerate(
        [(Decimal("12.34"), date(2027, 12, 31), user), (None, None, None)]
    ):
        card = GiftCard(
            pool=pool, brand_id=pool.brand_id, card_value=pool.card_value, uploaded_by=uploaded_by
        )
        card.set_code(f"ABCD-EFGH-{n:04d}")
        card.set_pin("0042")
        card.set_card_number("6000 1111 2222")
        card.current_balance = balance
        card.expiration_date = expires
        cards.append(card)

    insert_rows(GiftCard, cards)

    stored = {card.code: card for card in GiftCard.objects.filter(pool=pool)}
    first, second = stored["ABCD-EFGH-0000"], stored["ABCD-EFGH-0001"]
    assert (first.pin, first.card_number) == ("0042", "6000 1111 2222")
    assert first.code_hash == cards[0].code_hash and first.code_last4 == "0000"
    assert first.current_balance == Decimal("12.34") and first.card_value == Decimal("25.00")
    assert first.expiration_date == date(2027, 12, 31) and first.uploaded_by_id == user.pk
    assert second.current_balance is None and second.expiration_date is None
    assert second.uploaded_by_id is None and second.claimed_by_recipient_id is None
    assert first.status == "available" and first.created_at == cards[0].created_at
    assert timezone.is_aware(first.created_at)


def test_booleans_integers_and_defaults():
    brand = GiftCardBrandFactory()
    client = ClientFactory()
    pools = [
        GiftCardPool(
            pool_name="Off",
            brand=brand,
            card_value=Decimal("10"),
            is_active=False,
            is_master_pool=True,
            available_for_purchase=True,
            low_stock_threshold=3,
        ),
        GiftCardPool(pool_name="Default", brand=brand, card_value=Decimal("10"), client=client),
    ]

    insert_rows(GiftCardPool, pools)

    off, default = (GiftCardPool.objects.get(pk=pool.pk) for pool in pools)
    assert (off.is_active, off.is_master_pool, off.available_for_purchase) == (False, True, True)
    assert off.low_stock_threshold == 3 and off.client_id is None
    assert (default.is_active, default.is_master_pool, default.low_stock_threshold) == (
        True,
        False,
        10,
    )
    assert default.currency == "USD" and default.client_id == client.pk


def test_a_unique_conflict_is_an_integrity_error_and_keeps_nothing_of_the_call():
    audience = AudienceFactory()
    insert_rows(Recipient, [_recipient(audience, None, 1, redemption_code="TAKEN00001")])
    rows = [
        _recipient(audience, None, 2),
        _recipient(audience, None, 3, redemption_code="TAKEN00001"),
    ]

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Recipient, rows)

    # The caller's atomic block rolled back; the connection is usable and the first row of the
    # failed call was not kept.
    assert list(Recipient.objects.filter(audience=audience).values_list("email", flat=True)) == [
        "zoe1@example.com"
    ]
    insert_rows(Recipient, [rows[0]])
    assert Recipient.objects.filter(audience=audience).count() == 2


def test_a_conflict_within_the_call_is_an_integrity_error_too():
    pool = GiftCardPoolFactory()
    cards = []
    for code in ("SAME-CODE-1", "same code 1"):  # one code, as the keyed hash compares them
        card = GiftCard(pool=pool, brand_id=pool.brand_id, card_value=pool.card_value)
        card.set_code(code)
        cards.append(card)

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(GiftCard, cards)
    assert not GiftCard.objects.filter(pool=pool).exists()


@pytest.mark.django_db(transaction=True)
def test_rows_are_part_of_the_callers_transaction():
    audience = AudienceFactory()

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction.atomic():
        insert_rows(Recipient, [_recipient(audience, None, 1)])
        assert Recipient.objects.filter(audience=audience).count() == 1
        raise Abandoned
    assert not Recipient.objects.filter(audience=audience).exists()

    # Outside any atomic block (autocommit) the call is its own transaction.
    insert_rows(Recipient, [_recipient(audience, None, 2)])
    assert Recipient.objects.filter(audience=audience).count() == 1


def test_an_empty_list_writes_nothing_and_the_suite_runs_on_postgresql():
    insert_rows(Recipient, [])
    assert connection.vendor == "postgresql"
    assert not Recipient.objects.exists()


def test_naive_datetimes_are_warned_about_as_bulk_create_warns():
    audience = AudienceFactory()
    row = _recipient(audience, None, 1)
    row.approved_at = timezone.now().replace(tzinfo=None) - timedelta(days=1)
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        insert_rows(Recipient, [row])


# insert_values: plain tuples of some fields, constants once, every other field its default.

VALUE_FIELDS = ("first_name", "email", "phone", "custom_fields", "approved_at", "redemption_code")


def _values(n, **extra):
    values = {
        "first_name": "Zoë",
        "email": f"v{n}@example.com",
        "phone": f"+1555202{n:04d}",
        "custom_fields": CUSTOM,
        "approved_at": datetime(2026, 3, 1, 9, 30, tzinfo=ZoneInfo("America/New_York")),
        "redemption_code": f"VALUES{n:04d}",
        **extra,
    }
    return tuple(values[name] for name in VALUE_FIELDS)


def test_insert_values_writes_what_a_new_instance_with_those_values_writes():
    audience = AudienceFactory()
    before = timezone.now()
    with transaction.atomic():
        count = insert_values(
            Recipient,
            (*VALUE_FIELDS, "token"),
            [(*_values(n), f"token-of-values-row-{n:04d}") for n in (1, 2)],
            constants={"audience_id": audience.pk, "sms_opt_in_status": SmsOptInStatus.OPTED_IN},
        )
    assert count == 2
    created = Recipient(
        audience=audience,
        sms_opt_in_status=SmsOptInStatus.OPTED_IN,
        token="token-of-created-row-0003",
        **dict(zip(VALUE_FIELDS, _values(3), strict=True)),
    )
    created.save()

    rows = list(Recipient.objects.filter(audience=audience, first_name="Zoë").order_by("email"))
    assert [r.email for r in rows] == ["v1@example.com", "v2@example.com", "v3@example.com"]
    varying = {"id", "created_at", "updated_at", "token", "redemption_code", "email", "phone"}
    mine, theirs = _row(rows[0]), _row(rows[2])
    assert {k: v for k, v in mine.items() if k not in varying} == {
        k: v for k, v in theirs.items() if k not in varying
    }
    assert mine["custom_fields"] == CUSTOM and mine["validation_details"] == {}
    assert before <= mine["created_at"] == mine["updated_at"] <= timezone.now()
    # A callable default (the key) is called for each row.
    assert len({r.pk for r in rows}) == 3


def test_insert_values_converts_what_is_not_already_the_columns_type():
    pool = GiftCardPoolFactory(card_value=Decimal("25.00"))
    sealed = [GiftCard.sealed_code(f"CONV-{n:04d}") for n in range(3)]
    insert_values(
        GiftCard,
        ("code_encrypted", "code_hash", "code_last4", "current_balance", "expiration_date"),
        [
            (*sealed[0], Decimal("12.345"), date(2027, 1, 31)),
            (*sealed[1], "7.5", "2027-02-28"),  # text, as a form would give them
            (*sealed[2], None, None),
        ],
        constants={"pool_id": pool.pk, "brand_id": pool.brand_id, "card_value": pool.card_value},
    )
    stored = {card.code: card for card in GiftCard.objects.filter(pool=pool)}
    assert stored["CONV-0000"].current_balance == Decimal("12.35")
    assert stored["CONV-0000"].expiration_date == date(2027, 1, 31)
    assert stored["CONV-0001"].current_balance == Decimal("7.50")
    assert stored["CONV-0001"].expiration_date == date(2027, 2, 28)
    assert stored["CONV-0002"].current_balance is None
    assert {card.status for card in stored.values()} == {"available"}


def test_insert_values_refuses_a_field_the_model_does_not_have():
    with pytest.raises(ValueError, match="no concrete field 'nickname'"):
        insert_values(Recipient, ("nickname",), [("Zo",)])


def test_insert_values_keeps_nothing_of_a_call_that_conflicts():
    audience = AudienceFactory()
    names = (*VALUE_FIELDS, "token")
    first = (*_values(7), "token-of-values-row-0007")
    insert_values(Recipient, names, [first], constants={"audience_id": audience.pk})
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_values(
            Recipient,
            names,
            [
                (*_values(8), "token-of-values-row-0008"),
                (*_values(9, redemption_code="VALUES0007"), "t" * 24),
            ],
            constants={"audience_id": audience.pk},
        )
    assert Recipient.objects.filter(audience=audience).count() == 1


# PreparedRows: the same rows as insert_values, their COPY text made ahead, the late fields added
# at the insert.

AWKWARD = (
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "back\\slash \\N",
    "\\.",
    "Zoë O’Brien «VIP» 東京",
    "",
)


def _given(n, text, **extra):
    values = {
        "first_name": text,
        "last_name": f"{text} {n}",
        "email": f"p{n}@example.com",
        "phone": f"+1555203{n:04d}",
        "custom_fields": {**CUSTOM, "text": text, "quote": 'say "hi" \\ there'},
        "approved_at": None
        if n % 2
        else datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=ZoneInfo("America/New_York")),
        **extra,
    }
    return tuple(values[name] for name in PREPARED_FIELDS)


PREPARED_FIELDS = ("first_name", "last_name", "email", "phone", "custom_fields", "approved_at")


def test_prepared_rows_write_what_insert_values_writes():
    audience = AudienceFactory()
    constants = {"audience_id": audience.pk, "sms_opt_in_status": SmsOptInStatus.OPTED_IN}
    rows = PreparedRows(
        Recipient, PREPARED_FIELDS, late=("redemption_code", "token"), constants=constants
    )
    # Prepared as the reader process does, written later; the late values given to prepare
    # (odd rows) or to insert (even rows).
    late = [(f"PREP{n:04d}", f"token-of-prepared-row-{n:04d}") for n in range(len(AWKWARD))]
    prepared = [
        rows.prepare(_given(n, text), late=late[n] if n % 2 else None)
        for n, text in enumerate(AWKWARD)
    ]
    before = timezone.now()
    with transaction.atomic():
        count = rows.insert((None if n % 2 else late[n], row) for n, row in enumerate(prepared))
        insert_values(
            Recipient,
            ("redemption_code", "token", *PREPARED_FIELDS),
            [
                (f"VALS{n:04d}", f"token-of-values-row-{n:04d}", *_given(n, text))
                for n, text in enumerate(AWKWARD)
            ],
            constants=constants,
        )
    assert count == len(AWKWARD)
    stored = {r.redemption_code: _row(r) for r in Recipient.objects.filter(audience=audience)}
    varying = {"id", "created_at", "updated_at", "token", "redemption_code"}
    for n, text in enumerate(AWKWARD):
        mine, theirs = stored[f"PREP{n:04d}"], stored[f"VALS{n:04d}"]
        assert mine["first_name"] == text
        assert mine["custom_fields"]["text"] == text
        assert {k: v for k, v in mine.items() if k not in varying} == {
            k: v for k, v in theirs.items() if k not in varying
        }
        assert mine["token"] == f"token-of-prepared-row-{n:04d}"
        assert before <= mine["created_at"] == mine["updated_at"] <= timezone.now()
    # The key, a callable default, is drawn for each row.
    assert len({row["id"] for row in stored.values()}) == 2 * len(AWKWARD)


def test_prepared_rows_convert_what_is_not_already_the_columns_type():
    pool = GiftCardPoolFactory(card_value=Decimal("25.00"))
    names = ("code_encrypted", "code_hash", "code_last4", "current_balance", "expiration_date")
    constants = {"pool_id": pool.pk, "brand_id": pool.brand_id, "card_value": pool.card_value}
    rows = PreparedRows(GiftCard, names, late=("id",), constants=constants)
    sealed = [GiftCard.sealed_code(f"PREP-{n:04d}") for n in range(3)]
    prepared = [
        rows.prepare((*sealed[0], Decimal("12.345"), date(2027, 1, 31))),
        rows.prepare((*sealed[1], "7.5", "2027-02-28")),
        rows.prepare((*sealed[2], None, None)),
    ]
    keys = [uuid7() for _ in prepared]
    rows.insert(zip([(str(keys[0]),), (keys[1],), (keys[2],)], prepared, strict=True))
    stored = {card.code: card for card in GiftCard.objects.filter(pool=pool)}
    assert {card.pk for card in stored.values()} == set(keys)
    assert stored["PREP-0000"].current_balance == Decimal("12.35")
    assert stored["PREP-0000"].expiration_date == date(2027, 1, 31)
    assert stored["PREP-0001"].current_balance == Decimal("7.50")
    assert stored["PREP-0001"].expiration_date == date(2027, 2, 28)
    assert stored["PREP-0002"].current_balance is None
    assert {card.status for card in stored.values()} == {"available"}
    assert {card.card_value for card in stored.values()} == {Decimal("25.00")}


def test_prepared_rows_refuse_a_field_the_model_does_not_have():
    with pytest.raises(ValueError, match="no concrete field 'nickname'"):
        PreparedRows(Recipient, ("nickname",))


def test_prepared_rows_keep_nothing_of_an_insert_that_conflicts():
    audience = AudienceFactory()
    rows = PreparedRows(
        Recipient,
        PREPARED_FIELDS,
        late=("redemption_code",),
        constants={"audience_id": audience.pk},
    )
    rows.insert([(("PREP0007",), rows.prepare(_given(7, "first")))])
    with pytest.raises(IntegrityError), transaction.atomic():
        rows.insert(
            [
                (("PREP0008",), rows.prepare(_given(8, "second"))),
                (("PREP0007",), rows.prepare(_given(9, "third"))),
            ]
        )
    assert Recipient.objects.filter(audience=audience).count() == 1
