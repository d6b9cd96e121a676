"""The gift card pages: pools and stock, a pool's masked cards and audited reveals, buying from a
master pool against credit, the rewards list and revoking a reward."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from giftcards.models import (
    GiftCardAuditAction,
    GiftCardAuditLog,
    GiftCardPool,
    GiftCardSale,
    GiftCardStatus,
    RewardStatus,
)
from giftcards.services import allocate_credit, credit_account_for
from tests import factories
from tests.dashboard.helpers import assert_queries_do_not_grow, read_csv

pytestmark = pytest.mark.django_db

POOLS = reverse("dashboard:giftcards")
BUY = reverse("dashboard:giftcard_buy")
REWARDS = reverse("dashboard:giftcard_rewards")


def pool_url(pool):
    return reverse("dashboard:giftcard_pool", kwargs={"pool_id": pool.pk})


def reveal_url(card):
    return reverse("dashboard:giftcard_reveal", kwargs={"card_id": card.pk})


def revoke_url(reward):
    return reverse("dashboard:giftcard_revoke", kwargs={"reward_id": reward.pk})


def stocked_pool(client, *, cards=3, **extra):
    pool = factories.GiftCardPoolFactory(client=client, **extra)
    for _ in range(cards):
        factories.GiftCardFactory(pool=pool)
    pool.refresh_from_db()
    return pool


def claimed_reward(client, **extra):
    return factories.RecipientGiftCardFactory(
        claimed=True, condition__campaign__client=client, **extra
    )


@pytest.fixture
def code_viewer(people):
    """Staff holding the permission to reveal codes."""
    people.staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="giftcards", codename="view_card_code")
    )
    return people.staff


# --- Pools ---------------------------------------------------------------------------------------


def test_the_client_sees_its_pools_with_stock_and_a_low_stock_mark(login_as, people, tenants):
    stocked_pool(tenants.client_a, cards=12, pool_name="Plenty pool", low_stock_threshold=5)
    stocked_pool(tenants.client_a, cards=2, pool_name="Short pool", low_stock_threshold=5)
    stocked_pool(tenants.client_b, cards=4, pool_name="Other tenant pool")
    response = login_as(people.client_admin).get(POOLS)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Plenty pool" in body and "Short pool" in body
    assert "Other tenant pool" not in body
    assert "Low · alert at 5" in body
    assert response.context["summary"]["available"] == 14
    assert response.context["summary"]["low"] == 1
    assert response.context["can_buy"] is True


def test_master_pools_are_not_listed_as_the_clients_stock(login_as, people, tenants):
    factories.GiftCardPoolFactory(master=True, pool_name="Platform stock")
    response = login_as(people.staff, "all").get(POOLS)
    assert "Platform stock" not in response.content.decode()


def test_the_low_stock_filter_keeps_pools_at_or_below_their_mark(login_as, people, tenants):
    stocked_pool(tenants.client_a, cards=12, pool_name="Plenty pool", low_stock_threshold=5)
    stocked_pool(tenants.client_a, cards=5, pool_name="Short pool", low_stock_threshold=5)
    body = login_as(people.client_user).get(POOLS, {"stock": "low"}).content.decode()
    assert "Short pool" in body and "Plenty pool" not in body


def test_a_read_only_user_sees_no_buy_button(login_as, people, tenants):
    response = login_as(people.client_user).get(POOLS)
    assert response.context["can_buy"] is False
    assert BUY not in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client, tenants):
    pool = stocked_pool(tenants.client_a)
    for url in (POOLS, pool_url(pool), REWARDS, BUY):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/app/login/")


def test_pools_export_lists_the_filtered_pools(login_as, people, tenants):
    stocked_pool(tenants.client_a, cards=2, pool_name="Short pool", low_stock_threshold=5)
    stocked_pool(tenants.client_a, cards=9, pool_name="Plenty pool", low_stock_threshold=5)
    rows = read_csv(login_as(people.client_user).get(POOLS, {"stock": "low", "export": "csv"}))
    assert [(r["Pool"], r["Available"], r["Stock"]) for r in rows] == [("Short pool", "2", "low")]


def test_the_pools_page_costs_the_same_queries_at_any_row_count(login_as, people, tenants):
    client = login_as(people.client_admin)
    brand = factories.GiftCardBrandFactory()

    def add(n):
        factories.GiftCardPoolFactory.create_batch(n, client=tenants.client_a, brand=brand)

    assert_queries_do_not_grow(client, POOLS, add, few=2, many=30)


# --- A pool's cards ------------------------------------------------------------------------------


def test_a_pools_cards_are_shown_masked(login_as, people, tenants):
    pool = factories.GiftCardPoolFactory(client=tenants.client_a)
    factories.GiftCardFactory(pool=pool, code="SECRET-CODE-7731")
    body = login_as(people.client_admin).get(pool_url(pool)).content.decode()
    assert "SECRET-CODE-7731" not in body
    assert "7731" in body
    assert "Reveal</button>" not in body


def test_another_tenants_pool_is_not_found(login_as, people, tenants):
    pool = stocked_pool(tenants.client_a)
    assert login_as(people.other_client_admin).get(pool_url(pool)).status_code == 404


def test_the_card_filter_finds_a_card_by_its_last_four(login_as, people, tenants):
    pool = factories.GiftCardPoolFactory(client=tenants.client_a)
    factories.GiftCardFactory(pool=pool, code="FIND-ME-4242")
    factories.GiftCardFactory(pool=pool, code="NOT-ME-1111")
    response = login_as(people.client_user).get(pool_url(pool), {"last4": "4242"})
    body = response.content.decode()
    assert "4242" in body and "1111" not in body


def test_staff_allowed_to_see_codes_reveal_one_and_the_reveal_is_audited(
    login_as, code_viewer, tenants
):
    pool = factories.GiftCardPoolFactory(client=tenants.client_a)
    card = factories.GiftCardFactory(pool=pool, code="SECRET-CODE-7731")
    client = login_as(code_viewer, tenants.client_a)
    assert "Reveal</button>" in client.get(pool_url(pool)).content.decode()

    response = client.post(reveal_url(card))

    assert response.status_code == 200
    assert "SECRET-CODE-7731" in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    audit = GiftCardAuditLog.objects.get(action=GiftCardAuditAction.CARD_CODE_REVEALED)
    assert (audit.entity_id, audit.user, audit.client) == (card.pk, code_viewer, tenants.client_a)
    assert "SECRET-CODE-7731" not in str(audit.metadata)
    client.post(reveal_url(card), HTTP_HX_REQUEST="true")
    assert GiftCardAuditLog.objects.filter(entity_id=card.pk).count() == 2


def test_an_htmx_reveal_answers_with_the_code_alone(login_as, code_viewer, tenants):
    card = factories.GiftCardFactory(pool__client=tenants.client_a, code="SECRET-CODE-7731")
    response = login_as(code_viewer).post(
        reveal_url(card), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="table"
    )
    body = response.content.decode()
    assert "SECRET-CODE-7731" in body and "<html" not in body


@pytest.mark.parametrize("who", ["client_admin", "agency_admin", "staff"])
def test_no_one_else_may_reveal_a_code(login_as, people, tenants, who):
    card = factories.GiftCardFactory(pool__client=tenants.client_a, code="SECRET-CODE-7731")
    response = login_as(getattr(people, who), tenants.client_a).post(reveal_url(card))
    assert response.status_code == 403
    assert "SECRET-CODE-7731" not in response.content.decode()
    assert not GiftCardAuditLog.objects.filter(
        action=GiftCardAuditAction.CARD_CODE_REVEALED
    ).exists()


def test_revealing_is_a_post(login_as, code_viewer, tenants):
    card = factories.GiftCardFactory(pool__client=tenants.client_a)
    assert login_as(code_viewer).get(reveal_url(card)).status_code == 405


def test_the_cards_export_is_masked_even_for_those_who_may_reveal(login_as, code_viewer, tenants):
    pool = factories.GiftCardPoolFactory(client=tenants.client_a)
    factories.GiftCardFactory(pool=pool, code="SECRET-CODE-7731")
    response = login_as(code_viewer).get(pool_url(pool), {"export": "csv"})
    rows = read_csv(response)
    assert rows[0]["Code"].endswith("7731")
    assert "SECRET" not in rows[0]["Code"]
    assert rows[0]["Status"] == "available"


def test_a_pools_cards_cost_the_same_queries_at_any_row_count(login_as, people, tenants):
    pool = factories.GiftCardPoolFactory(client=tenants.client_a)
    client = login_as(people.client_admin)

    def add(n):
        for _ in range(n):
            reward = claimed_reward(tenants.client_a, brand=pool.brand, card_value=pool.card_value)
            # Move the reward's card into this pool, as if claimed from it.
            reward.gift_card.pool = pool
            reward.gift_card.save(update_fields=["pool"])

    assert_queries_do_not_grow(client, pool_url(pool), add, few=2, many=25)


# --- Buying cards --------------------------------------------------------------------------------


@pytest.fixture
def master_pool():
    pool = factories.GiftCardPoolFactory(master=True, card_value=Decimal("25.00"))
    for _ in range(5):
        factories.GiftCardFactory(pool=pool)
    pool.refresh_from_db()
    return pool


def test_buying_moves_cards_into_the_clients_pool_and_debits_its_credit(
    login_as, people, tenants, master_pool
):
    allocate_credit(tenants.client_a, Decimal("100.00"))
    response = login_as(people.client_admin).post(
        BUY, {"offer": master_pool.pk, "quantity": "3", "token": "t1"}
    )
    sale = GiftCardSale.objects.get()
    assert response.status_code == 302
    assert response["Location"] == pool_url(sale.pool)
    assert sale.pool.client == tenants.client_a
    assert (sale.quantity, sale.total_amount, sale.source_pool) == (
        3,
        Decimal("75.00"),
        master_pool,
    )
    assert sale.credit_transaction.amount == Decimal("-75.00")
    assert credit_account_for(tenants.client_a).balance == Decimal("25.00")
    target = GiftCardPool.objects.get(pk=sale.pool_id)
    master_pool.refresh_from_db()
    assert (target.available_cards, target.total_cards) == (3, 3)
    assert (master_pool.available_cards, master_pool.total_cards) == (2, 2)
    assert target.cards.filter(status=GiftCardStatus.AVAILABLE).count() == 3


def test_buying_beyond_the_balance_is_refused_with_the_reason(
    login_as, people, tenants, master_pool
):
    allocate_credit(tenants.client_a, Decimal("10.00"))
    response = login_as(people.client_admin).post(
        BUY, {"offer": master_pool.pk, "quantity": "3", "token": "t1"}
    )
    assert response.status_code == 200
    assert "less than the $75.00 this needs" in response.content.decode()
    assert not GiftCardSale.objects.exists()
    master_pool.refresh_from_db()
    assert master_pool.available_cards == 5
    assert credit_account_for(tenants.client_a).balance == Decimal("10.00")


def test_buying_more_than_the_stock_is_a_field_error(login_as, people, tenants, master_pool):
    allocate_credit(tenants.client_a, Decimal("1000.00"))
    response = login_as(people.client_admin).post(
        BUY, {"offer": master_pool.pk, "quantity": "9", "token": "t1"}
    )
    assert "Only 5 of these cards are in stock." in response.context["form"].errors["quantity"]
    assert not GiftCardSale.objects.exists()


def test_the_buy_form_shows_the_cost_and_the_balance_after(login_as, people, tenants, master_pool):
    allocate_credit(tenants.client_a, Decimal("60.00"))
    response = login_as(people.client_admin).get(BUY, {"offer": master_pool.pk, "quantity": "2"})
    cost = response.context["form"].cost
    assert (cost["total"], cost["after"]) == (Decimal("50.00"), Decimal("10.00"))
    assert "$50.00" in response.content.decode()


@pytest.mark.parametrize("who", ["client_user", "agency_user"])
def test_read_only_users_cannot_buy(login_as, people, tenants, master_pool, who):
    allocate_credit(tenants.client_a, Decimal("100.00"))
    client = login_as(getattr(people, who), tenants.client_a)
    assert client.get(BUY).status_code == 403
    assert (
        client.post(BUY, {"offer": master_pool.pk, "quantity": "1", "token": "t1"}).status_code
        == 403
    )
    assert not GiftCardSale.objects.exists()


def test_a_second_submit_of_the_same_form_buys_nothing_more(login_as, people, tenants, master_pool):
    allocate_credit(tenants.client_a, Decimal("100.00"))
    client = login_as(people.client_admin)
    form = {"offer": master_pool.pk, "quantity": "1", "token": "same-form"}
    client.post(BUY, form)
    again = client.post(BUY, form, follow=True)
    assert "already made" in again.content.decode()
    assert GiftCardSale.objects.count() == 1
    assert credit_account_for(tenants.client_a).balance == Decimal("75.00")
    client.post(BUY, {**form, "token": "next-form"})
    assert GiftCardSale.objects.count() == 2


def test_a_refused_purchase_may_be_sent_again(login_as, people, tenants, master_pool):
    client = login_as(people.client_admin)
    form = {"offer": master_pool.pk, "quantity": "1", "token": "same-form"}
    assert "less than" in client.post(BUY, form).content.decode()
    allocate_credit(tenants.client_a, Decimal("100.00"))
    assert client.post(BUY, form).status_code == 302
    assert GiftCardSale.objects.count() == 1


def test_a_form_without_its_token_buys_nothing_and_gets_a_fresh_one(
    login_as, people, tenants, master_pool
):
    allocate_credit(tenants.client_a, Decimal("100.00"))
    response = login_as(people.client_admin).post(BUY, {"offer": master_pool.pk, "quantity": "1"})
    assert "out of date" in response.content.decode()
    assert response.context["token"]
    assert not GiftCardSale.objects.exists()


def test_buying_for_all_clients_asks_for_a_client_first(login_as, people, tenants):
    response = login_as(people.agency_admin, "all").get(BUY)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboard:choose_client"))


# --- Rewards and revoking them -------------------------------------------------------------------


def test_the_rewards_list_takes_a_campaign(login_as, people, tenants):
    mine = claimed_reward(tenants.client_a, recipient__first_name="Mina")
    other = claimed_reward(tenants.client_a, recipient__first_name="Otto")
    claimed_reward(tenants.client_b, recipient__first_name="Bertha")
    client = login_as(people.client_user)
    body = client.get(REWARDS).content.decode()
    assert "Mina" in body and "Otto" in body and "Bertha" not in body
    body = client.get(REWARDS, {"campaign": mine.campaign_id}).content.decode()
    assert "Mina" in body and "Otto" not in body
    assert other.gift_card.masked_code.split()[-1] not in body


def test_a_read_only_user_sees_no_revoke_button(login_as, people, tenants):
    reward = claimed_reward(tenants.client_a)
    body = login_as(people.client_user).get(REWARDS).content.decode()
    assert revoke_url(reward) not in body
    body = login_as(people.client_admin).get(REWARDS).content.decode()
    assert revoke_url(reward) in body


def test_the_rewards_export_lists_statuses_and_masked_cards(login_as, people, tenants):
    reward = claimed_reward(tenants.client_a)
    rows = read_csv(login_as(people.client_user).get(REWARDS, {"export": "csv"}))
    assert [(r["Status"], r["Card"]) for r in rows] == [("claimed", reward.gift_card.masked_code)]


def test_the_rewards_list_costs_the_same_queries_at_any_row_count(login_as, people, tenants):
    client = login_as(people.client_admin)
    condition = factories.CampaignConditionFactory(campaign__client=tenants.client_a)

    def add(n):
        for _ in range(n):
            factories.RecipientGiftCardFactory(claimed=True, condition=condition)

    assert_queries_do_not_grow(client, REWARDS, add, few=2, many=25)


def test_a_client_admin_revokes_a_card_never_sent_and_it_goes_back_to_stock(
    login_as, people, tenants
):
    reward = claimed_reward(tenants.client_a)
    card = reward.gift_card
    response = login_as(people.client_admin).post(
        revoke_url(reward), {"reason": "Called twice, rewarded by mistake"}
    )
    assert response.status_code == 302
    reward.refresh_from_db()
    card.refresh_from_db()
    assert reward.status == RewardStatus.REVOKED
    assert reward.revoked_reason == "Called twice, rewarded by mistake"
    assert card.status == GiftCardStatus.AVAILABLE
    audit = GiftCardAuditLog.objects.get(action=GiftCardAuditAction.REWARD_REVOKED)
    assert audit.user == people.client_admin
    assert audit.metadata["snapshot"]["card"]["code"] == card.masked_code


def test_a_short_reason_is_a_field_error(login_as, people, tenants):
    reward = claimed_reward(tenants.client_a)
    response = login_as(people.client_admin).post(revoke_url(reward), {"reason": "too short"})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == ["Give a reason of at least 10 characters."]
    reward.refresh_from_db()
    assert reward.status == RewardStatus.CLAIMED


def test_revoking_twice_shows_the_services_refusal(login_as, people, tenants):
    reward = claimed_reward(tenants.client_a)
    client = login_as(people.client_admin)
    client.post(revoke_url(reward), {"reason": "Called twice, rewarded by mistake"})
    response = client.post(revoke_url(reward), {"reason": "Called twice, rewarded by mistake"})
    assert "already revoked" in response.content.decode()
    assert GiftCardAuditLog.objects.filter(action=GiftCardAuditAction.REWARD_REVOKED).count() == 1


@pytest.mark.parametrize("who", ["client_user", "agency_user"])
def test_read_only_users_cannot_revoke(login_as, people, tenants, who):
    reward = claimed_reward(tenants.client_a)
    client = login_as(getattr(people, who), tenants.client_a)
    assert client.get(revoke_url(reward)).status_code == 403
    response = client.post(revoke_url(reward), {"reason": "Called twice, rewarded by mistake"})
    assert response.status_code == 403
    reward.refresh_from_db()
    assert reward.status == RewardStatus.CLAIMED


def test_another_tenants_reward_cannot_be_revoked(login_as, people, tenants):
    reward = claimed_reward(tenants.client_a)
    response = login_as(people.other_client_admin).post(
        revoke_url(reward), {"reason": "Called twice, rewarded by mistake"}
    )
    assert response.status_code == 404
    reward.refresh_from_db()
    assert reward.status == RewardStatus.CLAIMED
