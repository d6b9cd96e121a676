"""Adding and editing single cards in the admin keeps the pool counters equal to the pool's cards:
a new card goes through `add_card_to_pool`, and what the counters count is read-only after."""

import pytest
from django.urls import reverse

from giftcards import crypto
from giftcards.models import CardSource, GiftCard, GiftCardAuditLog, GiftCardStatus
from giftcards.services import add_cards_to_pool
from tests import factories
from tests.admin_forms import form_data

pytestmark = pytest.mark.django_db

ADD = reverse("admin:giftcards_giftcard_add")


@pytest.fixture
def staff(client):
    user = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def pool():
    pool = factories.GiftCardPoolFactory()
    add_cards_to_pool(pool, ["STOCK-0001", "STOCK-0002"])
    return pool


def counters(pool):
    pool.refresh_from_db()
    return pool.total_cards, pool.available_cards


def add_form(pool, code, **extra):
    return {
        "pool": str(pool.pk),
        "code": code,
        "pin": "",
        "card_number": "",
        "expiration_date": "",
        "source": CardSource.CSV,
        "provider_order_id": "",
        **extra,
    }


def test_adding_a_card_in_the_admin_counts_it_in_the_pool_and_audits_it(staff, pool):
    response = staff.post(ADD, add_form(pool, "ADMIN-CARD-7788", pin="4321", _continue="1"))

    assert response.status_code == 302
    card = GiftCard.objects.get(code_hash=crypto.code_hash("ADMIN-CARD-7788"))
    assert response.url == reverse("admin:giftcards_giftcard_change", args=[card.pk])
    assert card.pool == pool and card.status == GiftCardStatus.AVAILABLE
    assert (card.brand_id, card.card_value) == (pool.brand_id, pool.card_value)
    assert card.code == "ADMIN-CARD-7788" and card.pin == "4321"
    assert "ADMIN-CARD" not in card.code_encrypted
    assert card.uploaded_by == staff.user
    assert counters(pool) == (3, 3) == (pool.cards.count(), pool.cards.count())
    audit = GiftCardAuditLog.objects.get(
        entity_id=pool.pk, action="cards_added", metadata__card=str(card.pk)
    )
    assert audit.user == staff.user and audit.changes == {"added": 1}


def test_adding_a_duplicate_code_in_the_admin_shows_a_field_error_and_changes_nothing(staff, pool):
    audits = GiftCardAuditLog.objects.count()

    # The same code as stored, written differently: codes compare without case or dashes.
    response = staff.post(ADD, add_form(pool, "stock 0001"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "code": ["A card with this code is already stored."]
    }
    assert counters(pool) == (2, 2)
    assert GiftCard.objects.count() == 2
    assert GiftCardAuditLog.objects.count() == audits


def test_a_blank_code_in_the_admin_is_a_field_error(staff, pool):
    response = staff.post(ADD, add_form(pool, " - "))

    assert response.status_code == 200
    assert "code" in response.context["adminform"].form.errors
    assert counters(pool) == (2, 2)


def test_pool_status_and_value_of_a_stored_card_are_read_only(staff, pool):
    card = pool.cards.first()
    other = factories.GiftCardPoolFactory(brand=pool.brand, card_value=pool.card_value)
    change = reverse("admin:giftcards_giftcard_change", args=[card.pk])

    page = staff.get(change)
    form = page.context["adminform"].form
    assert {"pool", "status", "brand", "card_value"}.isdisjoint(form.fields)
    assert "STOCK-000" not in page.content.decode()

    staff.post(change, {"pool": str(other.pk), "status": GiftCardStatus.REVOKED})

    card.refresh_from_db()
    assert card.pool == pool and card.status == GiftCardStatus.AVAILABLE
    assert counters(pool) == (2, 2) and counters(other) == (0, 0)


def test_the_add_form_needs_staff(client, pool):
    response = client.post(ADD, add_form(pool, "ANON-CARD-0001"))

    assert response.status_code == 302 and "/login/" in response.url
    assert counters(pool) == (2, 2)


def card_of(code):
    return GiftCard.objects.get(code_hash=crypto.code_hash(code))


def test_deleting_an_available_card_in_the_admin_takes_it_off_the_counters(staff, pool):
    card = card_of("STOCK-0001")
    url = reverse("admin:giftcards_giftcard_delete", args=[card.pk])

    response = staff.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not GiftCard.objects.filter(pk=card.pk).exists()
    assert counters(pool) == (1, 1)
    audit = GiftCardAuditLog.objects.get(action="card_removed", entity_id=card.pk)
    assert audit.user == staff.user and audit.metadata["pool"] == str(pool.pk)


def test_a_claimed_card_cannot_be_deleted_in_the_admin(staff, pool):
    card = card_of("STOCK-0001")
    GiftCard.objects.filter(pk=card.pk).update(status=GiftCardStatus.REVOKED)

    response = staff.post(
        reverse("admin:giftcards_giftcard_delete", args=[card.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert GiftCard.objects.filter(pk=card.pk).exists()


def bulk_delete(staff, cards):
    return staff.post(
        reverse("admin:giftcards_giftcard_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [str(card.pk) for card in cards],
            "post": "yes",
        },
    )


def test_bulk_delete_of_available_cards_takes_them_off_the_counters(staff, pool):
    cards = [card_of("STOCK-0001"), card_of("STOCK-0002")]

    assert bulk_delete(staff, cards).status_code == 302

    assert not GiftCard.objects.filter(pool=pool).exists()
    assert counters(pool) == (0, 0)
    assert GiftCardAuditLog.objects.filter(action="card_removed").count() == 2


def test_bulk_delete_including_a_card_that_was_given_out_deletes_nothing(staff, pool):
    kept = card_of("STOCK-0002")
    GiftCard.objects.filter(pk=kept.pk).update(status=GiftCardStatus.REVOKED)

    assert bulk_delete(staff, [card_of("STOCK-0001"), kept]).status_code == 403

    assert GiftCard.objects.filter(pool=pool).count() == 2
    assert counters(pool) == (2, 2)


def test_a_stored_card_offers_only_its_expiry_date(staff, pool):
    card = card_of("STOCK-0001")
    change = reverse("admin:giftcards_giftcard_change", args=[card.pk])
    page = staff.get(change)
    assert set(page.context["adminform"].form.fields) == {"expiration_date"}

    response = staff.post(
        change,
        form_data(
            page,
            expiration_date="2030-01-31",
            claimed_by_recipient=str(factories.RecipientFactory().pk),
            claimed_at_0="2026-01-01",
            claimed_at_1="10:00:00",
            delivery_address="+15559999999",
            delivery_method="sms",
            current_balance="0.00",
            source=CardSource.PROVIDER,
            provider_order_id="ORDER-1",
        ),
    )

    assert response.status_code == 302
    card = GiftCard.objects.get(pk=card.pk)
    assert str(card.expiration_date) == "2030-01-31"
    assert card.claimed_by_recipient is None and card.claimed_at is None
    assert (card.delivery_address, card.delivery_method) == ("", "")
    assert card.current_balance is None
    assert (card.source, card.provider_order_id) == (CardSource.CSV, "")
    assert card.status == GiftCardStatus.AVAILABLE and counters(pool) == (2, 2)
