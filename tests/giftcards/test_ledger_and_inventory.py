"""The credit ledger and card inventory services keep balances, counters and ledgers consistent,
refuse overdrafts, and store card codes only encrypted."""

import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction

from giftcards import crypto
from giftcards.models import CreditTransaction, GiftCard, GiftCardAuditLog, TransactionType
from giftcards.services import (
    DuplicateCardCode,
    InsufficientCredit,
    add_card_to_pool,
    add_cards_to_pool,
    allocate_credit,
    credit_account_for,
    post_credit,
)
from tests import factories


@pytest.mark.django_db
def test_allocation_and_debit_write_a_ledger_that_adds_up():
    client = factories.ClientFactory()
    allocate_credit(client, Decimal("100.00"))
    account = credit_account_for(client)
    post_credit(account, Decimal("-30.25"), transaction_type=TransactionType.DEDUCTION)
    account.refresh_from_db()
    assert account.balance == Decimal("69.75")
    rows = list(CreditTransaction.objects.filter(account=account).order_by("created_at"))
    assert [r.amount for r in rows] == [Decimal("100.00"), Decimal("-30.25")]
    assert rows[-1].balance_before == Decimal("100.00")
    assert rows[-1].balance_after == account.balance == sum(r.amount for r in rows)


@pytest.mark.django_db
def test_overdraft_is_refused_and_changes_nothing():
    client = factories.ClientFactory()
    allocate_credit(client, Decimal("10.00"))
    account = credit_account_for(client)
    with pytest.raises(InsufficientCredit):
        post_credit(account, Decimal("-10.01"), transaction_type=TransactionType.DEDUCTION)
    account.refresh_from_db()
    assert account.balance == Decimal("10.00")
    assert CreditTransaction.objects.filter(account=account).count() == 1


@pytest.mark.django_db
def test_money_must_not_be_float_and_allocations_must_be_positive():
    client = factories.ClientFactory()
    with pytest.raises(TypeError):
        allocate_credit(client, 10.0)
    with pytest.raises(ValueError):
        allocate_credit(client, Decimal("0"))


@pytest.mark.django_db
def test_the_database_refuses_a_ledger_row_that_does_not_add_up():
    account = credit_account_for(factories.ClientFactory())
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditTransaction.objects.create(
            account=account,
            transaction_type=TransactionType.ADJUSTMENT,
            amount=Decimal("5.00"),
            balance_before=Decimal("0.00"),
            balance_after=Decimal("6.00"),
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_debits_never_overdraw():
    """Ten threads each debit $15 from $100: exactly six succeed, the balance ends at $10."""
    client = factories.ClientFactory()
    allocate_credit(client, Decimal("100.00"))
    account = credit_account_for(client)
    outcomes = []
    barrier = threading.Barrier(10)

    def debit():
        try:
            barrier.wait()
            post_credit(account, Decimal("-15.00"), transaction_type=TransactionType.DEDUCTION)
            outcomes.append("ok")
        except InsufficientCredit:
            outcomes.append("refused")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=debit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    account.refresh_from_db()
    assert outcomes.count("ok") == 6 and outcomes.count("refused") == 4
    assert account.balance == Decimal("10.00")
    ledger = CreditTransaction.objects.filter(account=account)
    assert sum(r.amount for r in ledger) == account.balance


@pytest.mark.django_db
def test_cards_are_added_encrypted_counted_and_deduplicated():
    pool = factories.GiftCardPoolFactory()
    first = add_cards_to_pool(pool, ["AAAA-1111", "BBBB-2222", " ", "bbbb2222"])
    assert first.added == 2
    assert first.duplicates == ["bbbb2222"]
    assert len(first.invalid) == 1
    second = add_cards_to_pool(pool, ["AAAA-1111", "CCCC-3333"])
    assert second.added == 1 and second.duplicates == ["AAAA-1111"]

    pool.refresh_from_db()
    assert pool.total_cards == pool.available_cards == 3 == pool.cards.count()
    card = GiftCard.objects.get(code_hash=crypto.code_hash("cccc-3333"))
    assert card.code == "CCCC-3333"
    assert "CCCC" not in card.code_encrypted
    assert card.code_last4 == "3333" and card.masked_code.endswith("3333")
    assert (card.brand_id, card.card_value) == (pool.brand_id, pool.card_value)
    assert GiftCardAuditLog.objects.filter(entity_id=pool.pk, action="cards_added").count() == 2


@pytest.mark.django_db
def test_a_single_card_is_added_like_an_import_counted_and_audited():
    pool = factories.GiftCardPoolFactory()
    staff = factories.UserFactory(is_staff=True)
    add_cards_to_pool(pool, ["BATCH-0001"])

    card = add_card_to_pool(
        pool=pool, code="one-card-5150", pin="0042", card_number="6006 1234", added_by=staff
    )

    card.refresh_from_db()
    assert (card.code, card.pin, card.card_number) == ("one-card-5150", "0042", "6006 1234")
    assert "5150" not in card.pin_encrypted + card.code_encrypted
    assert (card.brand_id, card.card_value) == (pool.brand_id, pool.card_value)
    assert card.uploaded_by == staff
    pool.refresh_from_db()
    assert pool.total_cards == pool.available_cards == 2 == pool.cards.count()
    audit = GiftCardAuditLog.objects.get(metadata__card=str(card.pk))
    assert (audit.action, audit.entity_id, audit.user) == ("cards_added", pool.pk, staff)


@pytest.mark.django_db
def test_a_single_card_with_a_stored_code_is_refused_and_changes_nothing():
    pool = factories.GiftCardPoolFactory()
    other_pool = factories.GiftCardPoolFactory()
    add_cards_to_pool(pool, ["TAKEN-0001"])
    audits = GiftCardAuditLog.objects.count()

    with pytest.raises(DuplicateCardCode, match="already stored"):
        add_card_to_pool(pool=other_pool, code="taken 0001")
    with pytest.raises(ValueError, match="cannot be empty"):
        add_card_to_pool(pool=other_pool, code=" - ")

    other_pool.refresh_from_db()
    assert (other_pool.total_cards, other_pool.available_cards) == (0, 0)
    assert GiftCard.objects.count() == 1
    assert GiftCardAuditLog.objects.count() == audits


@pytest.mark.django_db
def test_codes_decrypt_after_a_key_rotation(settings):
    from cryptography.fernet import Fernet

    card = factories.GiftCardFactory(code="ROTATE-ME-1")
    old_keys = list(settings.CARD_CODE_KEYS)
    settings.CARD_CODE_KEYS = [Fernet.generate_key().decode(), *old_keys]
    assert card.code == "ROTATE-ME-1"
    rotated = crypto.rotate(card.code_encrypted)
    settings.CARD_CODE_KEYS = settings.CARD_CODE_KEYS[:1]
    assert crypto.decrypt(rotated) == "ROTATE-ME-1"


def test_a_code_sealed_for_an_import_is_what_set_code_stores(settings):
    from cryptography.fernet import Fernet

    encrypt = crypto.encrypter()
    encrypted, hashed, last4 = GiftCard.sealed_code("  abcd-efgh-1234 ", encrypt)
    card = GiftCard()
    card.set_code("  abcd-efgh-1234 ")
    assert (
        (hashed, last4)
        == (card.code_hash, card.code_last4)
        == (
            crypto.code_hash("ABCDEFGH1234"),
            "1234",
        )
    )
    assert crypto.decrypt(encrypted) == crypto.decrypt(card.code_encrypted) == "abcd-efgh-1234"
    # The encrypter holds the keys of when it was made: the newest one.
    newest = Fernet.generate_key().decode()
    settings.CARD_CODE_KEYS = [newest, *settings.CARD_CODE_KEYS]
    assert Fernet(newest).decrypt(crypto.encrypter()("9999").encode()) == b"9999"
    with pytest.raises(ValueError, match="cannot be empty"):
        GiftCard.sealed_code(" - ", encrypt)
