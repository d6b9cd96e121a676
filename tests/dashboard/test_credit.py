"""The credit page: balances, the ledger with its balance after each row, moving credit from the
agency to a client, and the low-balance threshold."""

from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse

from giftcards.models import (
    CreditAccount,
    CreditTransaction,
    GiftCardAuditAction,
    GiftCardAuditLog,
    TransactionType,
)
from giftcards.services import allocate_credit, credit_account_for, post_credit
from tests import factories
from tests.dashboard.helpers import assert_queries_do_not_grow, read_csv

pytestmark = pytest.mark.django_db

PAGE = reverse("dashboard:credit")
MOVE = reverse("dashboard:credit_move")
THRESHOLD = reverse("dashboard:credit_threshold")


def balance_of(org) -> Decimal:
    return CreditAccount.objects.get(organization=org).balance


def test_the_client_sees_its_balance_and_ledger_with_the_balance_after(login_as, people, tenants):
    allocate_credit(tenants.client_a, "100.00", description="First top-up")
    post_credit(
        credit_account_for(tenants.client_a),
        Decimal("-30.00"),
        transaction_type=TransactionType.PURCHASE,
        description="Cards bought",
    )
    allocate_credit(tenants.client_b, "999.00", description="Not yours")
    response = login_as(people.client_user).get(PAGE)
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["balance"] == Decimal("70.00")
    assert "First top-up" in body and "Cards bought" in body and "Not yours" not in body
    assert "-$30.00" in body and "$70.00" in body
    assert response.context["move_form"] is None
    assert response.context["threshold_form"] is None


def test_anonymous_visitors_are_sent_to_sign_in(client, tenants):
    for response in (client.get(PAGE), client.post(MOVE), client.post(THRESHOLD)):
        assert response["Location"].startswith("/app/login/")


def test_all_clients_shows_each_clients_balance_and_the_agencys(login_as, people, tenants):
    allocate_credit(tenants.agency_a, "500.00")
    allocate_credit(tenants.client_a, "40.00")
    allocate_credit(tenants.client_a2, "60.00")
    allocate_credit(tenants.client_b, "70.00")
    response = login_as(people.agency_user, "all").get(PAGE)
    balances = {org.name: acc.balance for org, acc in response.context["clients"] if acc}
    assert balances == {"Client A": Decimal("40.00"), "Client A2": Decimal("60.00")}
    assert [(a.name, acc.balance) for a, acc in response.context["agencies"]] == [
        ("Agency A", Decimal("500.00"))
    ]
    # The agency's own ledger is shown beside its clients' for "all clients".
    assert response.context["table"].data.data.filter(account__organization=tenants.agency_a)


def test_the_ledger_filters_by_type_and_date_and_exports(login_as, people, tenants):
    allocate_credit(tenants.client_a, "100.00", description="Top-up")
    post_credit(
        credit_account_for(tenants.client_a),
        Decimal("-30.00"),
        transaction_type=TransactionType.PURCHASE,
        description="Cards bought",
    )
    client = login_as(people.client_user)
    body = client.get(PAGE, {"transaction_type": "purchase"}).content.decode()
    assert "Cards bought" in body and "Top-up" not in body
    body = client.get(PAGE, {"since": "2000-01-01", "until": "2000-01-31"}).content.decode()
    assert "Cards bought" not in body
    rows = read_csv(client.get(PAGE, {"export": "csv"}))
    assert [(r["Type"], r["Amount"], r["Balance"]) for r in rows] == [
        ("Purchase", "-30.00", "70.00"),
        ("Allocation", "100.00", "100.00"),
    ]


def test_the_ledger_costs_the_same_queries_at_any_row_count(login_as, people, tenants):
    client = login_as(people.client_admin)

    def add(n):
        for _ in range(n):
            factories.CreditTransactionFactory(
                account=credit_account_for(tenants.client_a), created_by=people.client_admin
            )

    assert_queries_do_not_grow(client, PAGE, add, few=2, many=30)


def test_all_clients_costs_the_same_queries_at_any_row_count(login_as, people, tenants):
    client = login_as(people.agency_admin, "all")
    allocate_credit(tenants.agency_a, "10.00")

    def add(n):
        for _ in range(n):
            allocate_credit(tenants.client_a2, "1.00", created_by=people.agency_admin)

    assert_queries_do_not_grow(client, PAGE, add, few=2, many=30)


# --- Moving credit -------------------------------------------------------------------------------


def test_an_agency_admin_moves_credit_to_a_client(
    login_as, people, tenants, django_capture_on_commit_callbacks
):
    allocate_credit(tenants.agency_a, "500.00")
    client = login_as(people.agency_admin, tenants.client_a)
    assert client.get(PAGE).context["move_form"] is not None
    with (
        mock.patch("mike.rewards.claims.claim_waiting_for_credit") as wake,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            MOVE, {"client": tenants.client_a.pk, "amount": "200.50", "description": ""}
        )
    assert response.status_code == 302
    assert balance_of(tenants.agency_a) == Decimal("299.50")
    assert balance_of(tenants.client_a) == Decimal("200.50")
    out, into = (
        CreditTransaction.objects.get(transaction_type=TransactionType.TRANSFER_OUT),
        CreditTransaction.objects.get(transaction_type=TransactionType.TRANSFER_IN),
    )
    assert out.amount == Decimal("-200.50") and into.amount == Decimal("200.50")
    assert out.to_account == into.account and into.from_account == out.account
    assert into.created_by == people.agency_admin
    wake.assert_called_once_with(client_id=tenants.client_a.pk)


def test_moving_more_than_the_agency_holds_is_a_field_error(login_as, people, tenants):
    allocate_credit(tenants.agency_a, "50.00")
    response = login_as(people.agency_admin, "all").post(
        MOVE, {"client": tenants.client_a2.pk, "amount": "50.01"}
    )
    assert response.status_code == 400
    assert response.context["move_form"].errors["amount"] == [
        "Agency A holds $50.00; move at most that."
    ]
    assert balance_of(tenants.agency_a) == Decimal("50.00")
    assert not CreditTransaction.objects.filter(
        transaction_type=TransactionType.TRANSFER_IN
    ).exists()


@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1.001"])
def test_a_bad_amount_is_a_field_error(login_as, people, tenants, amount):
    allocate_credit(tenants.agency_a, "50.00")
    response = login_as(people.agency_admin).post(
        MOVE, {"client": tenants.client_a.pk, "amount": amount}
    )
    assert response.status_code == 400
    assert response.context["move_form"].errors["amount"]
    assert balance_of(tenants.agency_a) == Decimal("50.00")


def test_credit_moves_only_to_the_agencys_own_clients(login_as, people, tenants):
    allocate_credit(tenants.agency_a, "50.00")
    response = login_as(people.agency_admin).post(
        MOVE, {"client": tenants.client_b.pk, "amount": "10"}
    )
    assert response.status_code == 400
    assert response.context["move_form"].errors["client"]
    assert balance_of(tenants.agency_a) == Decimal("50.00")


@pytest.mark.parametrize(
    "who", ["client_admin", "client_user", "agency_user", "other_client_admin"]
)
def test_only_an_agency_admin_moves_the_agencys_credit(login_as, people, tenants, who):
    allocate_credit(tenants.agency_a, "50.00")
    response = login_as(getattr(people, who)).post(
        MOVE, {"client": tenants.client_a.pk, "amount": "10"}
    )
    assert response.status_code == 403
    assert balance_of(tenants.agency_a) == Decimal("50.00")


# --- The low-balance threshold -------------------------------------------------------------------


def test_a_client_admin_sets_the_low_balance_threshold(login_as, people, tenants):
    allocate_credit(tenants.client_a, "80.00")
    client = login_as(people.client_admin)
    response = client.post(THRESHOLD, {"threshold": "100"})
    assert response.status_code == 302
    account = credit_account_for(tenants.client_a)
    assert account.low_balance_threshold == Decimal("100.00")
    assert account.is_low
    audit = GiftCardAuditLog.objects.get(action=GiftCardAuditAction.LOW_BALANCE_THRESHOLD_SET)
    assert audit.changes == {"low_balance_threshold": ["0.00", "100.00"]}
    assert "Low · alert at $100.00" in client.get(PAGE).content.decode()


def test_a_negative_threshold_is_a_field_error(login_as, people, tenants):
    response = login_as(people.client_admin).post(THRESHOLD, {"threshold": "-1"})
    assert response.status_code == 400
    assert response.context["threshold_form"].errors["threshold"]


@pytest.mark.parametrize("who", ["client_user", "agency_user"])
def test_read_only_users_cannot_set_the_threshold(login_as, people, tenants, who):
    response = login_as(getattr(people, who), tenants.client_a).post(
        THRESHOLD, {"threshold": "100"}
    )
    assert response.status_code == 403
    assert not GiftCardAuditLog.objects.exists()
