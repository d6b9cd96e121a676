"""A pool's brand, value, client and currency are what its cards were stocked as: the admin lets
staff set them on an empty pool and never once the pool holds a card."""

from decimal import Decimal

import pytest
from django.urls import reverse

from giftcards.models import GiftCardPool
from giftcards.services import add_cards_to_pool
from tests import factories
from tests.admin_forms import form_data

pytestmark = pytest.mark.django_db

FIXED_ONCE_STOCKED = {"client", "brand", "card_value", "currency", "is_master_pool"}


@pytest.fixture
def staff(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


def change_url(pool):
    return reverse("admin:giftcards_giftcardpool_change", args=[pool.pk])


def test_a_stocked_pool_cannot_be_relabelled(staff):
    pool = factories.GiftCardPoolFactory(card_value=Decimal("15.00"))
    add_cards_to_pool(pool, ["POOL-0001"])
    other_client, other_brand = factories.ClientFactory(), factories.GiftCardBrandFactory()
    page = staff.get(change_url(pool))
    assert FIXED_ONCE_STOCKED.isdisjoint(page.context["adminform"].form.fields)

    response = staff.post(
        change_url(pool),
        form_data(
            page,
            card_value="100.00",
            client=str(other_client.pk),
            brand=str(other_brand.pk),
            currency="EUR",
            low_stock_threshold="4",
        ),
    )

    assert response.status_code == 302
    pool = GiftCardPool.objects.get(pk=pool.pk)
    assert pool.low_stock_threshold == 4  # the rest of the page still saves
    assert (pool.card_value, pool.client_id, pool.brand_id, pool.currency) == (
        Decimal("15.00"),
        pool.client_id,
        pool.brand_id,
        "USD",
    )
    assert pool.client != other_client and pool.brand != other_brand


def test_a_pool_whose_counters_lag_its_cards_is_still_fixed(staff):
    pool = factories.GiftCardPoolFactory()
    factories.GiftCardFactory(pool=pool)
    GiftCardPool.objects.filter(pk=pool.pk).update(total_cards=0, available_cards=0)

    page = staff.get(change_url(pool))

    assert FIXED_ONCE_STOCKED.isdisjoint(page.context["adminform"].form.fields)


def test_an_empty_pool_can_still_be_set_up(staff):
    pool = factories.GiftCardPoolFactory(card_value=Decimal("15.00"))
    brand = factories.GiftCardBrandFactory()
    page = staff.get(change_url(pool))
    assert set(page.context["adminform"].form.fields) >= FIXED_ONCE_STOCKED

    response = staff.post(
        change_url(pool), form_data(page, card_value="100.00", brand=str(brand.pk))
    )

    assert response.status_code == 302
    pool.refresh_from_db()
    assert (pool.card_value, pool.brand) == (Decimal("100.00"), brand)


def test_the_add_page_asks_for_brand_value_and_client(staff):
    page = staff.get(reverse("admin:giftcards_giftcardpool_add"))

    assert set(page.context["adminform"].form.fields) >= FIXED_ONCE_STOCKED
