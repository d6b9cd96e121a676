"""The services behind the dashboards' money pages: selling master-pool cards to a client, moving
credit from an agency to its client, the low-balance threshold, revealing a code, and which
deliveries a retry refuses."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission

from giftcards.models import (
    CardSource,
    CreditTransaction,
    DeliveryStatus,
    GiftCardAuditAction,
    GiftCardAuditLog,
    GiftCardPool,
    GiftCardSale,
    GiftCardStatus,
    RewardStatus,
    TransactionType,
)
from giftcards.services import InsufficientCredit, allocate_credit, credit_account_for
from giftcards.services.codes import CodeRevealRefused, can_reveal_codes, reveal_card_code
from giftcards.services.credit import (
    CreditTransferRefused,
    LowBalanceThresholdRefused,
    set_low_balance_threshold,
    transfer_credit,
)
from giftcards.services.retries import retry_delivery, retry_refusal
from giftcards.services.sales import SaleRefused, sale_price, sell_cards
from tests import factories

pytestmark = pytest.mark.django_db


def master_pool(cards=4, **extra):
    pool = factories.GiftCardPoolFactory(master=True, card_value=Decimal("20.00"), **extra)
    for _ in range(cards):
        factories.GiftCardFactory(pool=pool)
    pool.refresh_from_db()
    return pool


# --- sell_cards ----------------------------------------------------------------------------------


def test_a_sale_moves_the_cards_debits_the_price_and_records_the_margin():
    source = master_pool(cost_per_card=Decimal("19.00"), sale_price_per_card=Decimal("21.00"))
    client = factories.ClientFactory()
    allocate_credit(client, "100.00")
    sale = sell_cards(source_pool=source, client=client, quantity=2)
    assert (sale.price_per_card, sale.total_amount, sale.margin) == (
        Decimal("21.00"),
        Decimal("42.00"),
        Decimal("4.00"),
    )
    assert credit_account_for(client).balance == Decimal("58.00")
    assert sale.credit_transaction.reference_id == sale.pk
    assert sale.pool.client == client and sale.pool.brand_id == source.brand_id
    assert set(sale.pool.cards.values_list("source", flat=True)) == {CardSource.TRANSFER}
    assert GiftCardAuditLog.objects.get(action=GiftCardAuditAction.CARDS_SOLD).entity_id == (
        sale.pool_id
    )


def test_a_sale_fills_the_pool_the_claim_takes_cards_from():
    source = master_pool()
    client = factories.ClientFactory()
    allocate_credit(client, "100.00")
    existing = factories.GiftCardPoolFactory(
        client=client, brand=source.brand, card_value=source.card_value
    )
    sale = sell_cards(source_pool=source, client=client, quantity=1)
    assert sale.pool_id == existing.pk
    assert GiftCardPool.objects.filter(client=client).count() == 1


def test_the_price_is_face_value_plus_the_markup_without_a_sale_price():
    pool = factories.GiftCardPoolFactory.build(
        card_value=Decimal("20.00"), sale_price_per_card=None, markup_percentage=Decimal("5")
    )
    assert sale_price(pool) == Decimal("21.00")


def test_a_sale_the_credit_does_not_cover_changes_nothing():
    source = master_pool()
    client = factories.ClientFactory()
    allocate_credit(client, "30.00")
    with pytest.raises(InsufficientCredit):
        sell_cards(source_pool=source, client=client, quantity=2)
    source.refresh_from_db()
    assert source.available_cards == 4
    assert source.cards.filter(status=GiftCardStatus.AVAILABLE).count() == 4
    assert not GiftCardSale.objects.exists()
    assert not GiftCardPool.objects.filter(client=client).exists()


@pytest.mark.parametrize(
    ("change", "quantity", "message"),
    [
        ({"available_for_purchase": False}, 1, "not for sale"),
        ({"is_active": False}, 1, "not for sale"),
        ({"min_purchase_quantity": 3}, 2, "at least 3"),
        ({}, 5, "Only 4"),
        ({}, 0, "at least 1"),
    ],
)
def test_a_sale_is_refused_with_the_reason(change, quantity, message):
    source = master_pool()
    GiftCardPool.objects.filter(pk=source.pk).update(**change)
    source.refresh_from_db()
    client = factories.ClientFactory()
    allocate_credit(client, "500.00")
    with pytest.raises(SaleRefused, match=message):
        sell_cards(source_pool=source, client=client, quantity=quantity)
    assert credit_account_for(client).balance == Decimal("500.00")


def test_a_clients_own_pool_is_not_for_sale():
    pool = factories.GiftCardPoolFactory(available_for_purchase=True)
    factories.GiftCardFactory(pool=pool)
    with pytest.raises(SaleRefused):
        sell_cards(source_pool=pool, client=factories.ClientFactory(), quantity=1)


# --- transfer_credit -----------------------------------------------------------------------------


def test_a_transfer_moves_credit_from_the_agency_to_its_client():
    client = factories.ClientFactory()
    allocate_credit(client.parent, "100.00")
    out, into = transfer_credit(agency=client.parent, client=client, amount=Decimal("40"))
    assert credit_account_for(client.parent).balance == Decimal("60.00")
    assert credit_account_for(client).balance == Decimal("40.00")
    assert (out.transaction_type, into.transaction_type) == (
        TransactionType.TRANSFER_OUT,
        TransactionType.TRANSFER_IN,
    )
    assert into.reference_id == out.pk


def test_a_transfer_beyond_the_agency_balance_changes_nothing():
    client = factories.ClientFactory()
    allocate_credit(client.parent, "10.00")
    with pytest.raises(InsufficientCredit):
        transfer_credit(agency=client.parent, client=client, amount=Decimal("10.01"))
    assert credit_account_for(client.parent).balance == Decimal("10.00")
    assert credit_account_for(client).balance == Decimal("0.00")
    assert CreditTransaction.objects.count() == 1


def test_a_transfer_to_another_agencys_client_is_refused():
    client = factories.ClientFactory()
    other_agency = factories.AgencyFactory()
    allocate_credit(other_agency, "100.00")
    with pytest.raises(CreditTransferRefused, match="not a client of"):
        transfer_credit(agency=other_agency, client=client, amount=Decimal("5"))


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-1")])
def test_a_transfer_must_be_positive(amount):
    client = factories.ClientFactory()
    allocate_credit(client.parent, "100.00")
    with pytest.raises(CreditTransferRefused):
        transfer_credit(agency=client.parent, client=client, amount=amount)


def test_money_is_never_a_float():
    client = factories.ClientFactory()
    with pytest.raises(TypeError):
        transfer_credit(agency=client.parent, client=client, amount=1.5)


# --- set_low_balance_threshold -------------------------------------------------------------------


def test_setting_the_threshold_is_audited_once():
    account = credit_account_for(factories.ClientFactory())
    set_low_balance_threshold(account=account, threshold="250")
    set_low_balance_threshold(account=account, threshold=Decimal("250.00"))
    account.refresh_from_db()
    assert account.low_balance_threshold == Decimal("250.00")
    assert (
        GiftCardAuditLog.objects.filter(
            action=GiftCardAuditAction.LOW_BALANCE_THRESHOLD_SET
        ).count()
        == 1
    )


def test_a_negative_threshold_is_refused():
    account = credit_account_for(factories.ClientFactory())
    with pytest.raises(LowBalanceThresholdRefused):
        set_low_balance_threshold(account=account, threshold="-1")


# --- reveal_card_code ----------------------------------------------------------------------------


def test_a_reveal_returns_the_code_and_writes_an_audit_row_each_time():
    card = factories.GiftCardFactory(code="WHOLE-CODE-5150")
    staff = factories.UserFactory(is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="giftcards", codename="view_card_code")
    )
    assert reveal_card_code(card=card, by=staff) == "WHOLE-CODE-5150"
    assert reveal_card_code(card=card, by=staff) == "WHOLE-CODE-5150"
    rows = GiftCardAuditLog.objects.filter(action=GiftCardAuditAction.CARD_CODE_REVEALED)
    assert rows.count() == 2
    assert {row.user for row in rows} == {staff}


def test_only_superusers_and_permitted_staff_may_reveal():
    card = factories.GiftCardFactory()
    plain_staff = factories.UserFactory(is_staff=True)
    not_staff = factories.UserFactory()
    not_staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="giftcards", codename="view_card_code")
    )
    assert can_reveal_codes(factories.UserFactory(is_staff=True, is_superuser=True))
    for user in (plain_staff, not_staff, None):
        assert not can_reveal_codes(user)
    with pytest.raises(CodeRevealRefused):
        reveal_card_code(card=card, by=plain_staff)
    assert not GiftCardAuditLog.objects.exists()


# --- retry refusals ------------------------------------------------------------------------------


def test_a_revoked_rewards_failed_delivery_is_not_retried():
    delivery = factories.GiftCardDeliveryFactory(status=DeliveryStatus.FAILED)
    delivery.reward.status = RewardStatus.REVOKED
    delivery.reward.save(update_fields=["status"])
    assert retry_delivery(delivery) is False
    assert "revoked" in retry_refusal(delivery)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (DeliveryStatus.FAILED, None),
        (DeliveryStatus.BOUNCED, None),
        (DeliveryStatus.QUEUED, "already queued"),
        (DeliveryStatus.SENDING, "already queued"),
        (DeliveryStatus.DELIVERED, "sent already"),
    ],
)
def test_the_retry_refusal_says_why(status, refusal):
    delivery = factories.GiftCardDeliveryFactory(status=status)
    found = retry_refusal(delivery)
    if refusal is None:
        assert found is None
    else:
        assert refusal in found
