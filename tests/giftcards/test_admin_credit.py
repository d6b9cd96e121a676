"""A credit account's money moves only through the ledger services, each move with its ledger row:
in the admin its balances, owner, type, currency and reload history are read-only, while the
alert threshold and the reload settings stay staff's to set."""

from decimal import Decimal

import pytest
from django.urls import reverse

from giftcards.models import CreditAccount
from giftcards.services import allocate_credit, credit_account_for
from tests import factories
from tests.admin_forms import form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def account():
    client = factories.ClientFactory()
    allocate_credit(client, Decimal("250.00"))
    return credit_account_for(client)


def change_url(account):
    return reverse("admin:giftcards_creditaccount_change", args=[account.pk])


def test_only_the_alert_and_reload_settings_are_editable(staff, account):
    form = staff.get(change_url(account)).context["adminform"].form

    assert set(form.fields) == {
        "low_balance_threshold",
        "auto_reload_enabled",
        "auto_reload_threshold",
        "auto_reload_amount",
    }


def test_a_funded_account_cannot_be_moved_to_another_organization(staff, account):
    other = factories.ClientFactory()
    page = staff.get(change_url(account))

    response = staff.post(
        change_url(account),
        form_data(
            page,
            organization=str(other.pk),
            entity_type="agency",
            currency="EUR",
            balance="9999.00",
            auto_reload_failure_count="0",
            low_balance_threshold="50.00",
        ),
    )

    assert response.status_code == 302
    after = CreditAccount.objects.get(pk=account.pk)
    assert after.low_balance_threshold == Decimal("50.00")
    assert (after.organization_id, after.entity_type, after.currency, after.balance) == (
        account.organization_id,
        account.entity_type,
        "USD",
        Decimal("250.00"),
    )


def test_a_new_account_is_opened_for_an_organization_with_a_zero_balance(staff):
    organization = factories.ClientFactory()
    add = reverse("admin:giftcards_creditaccount_add")
    page = staff.get(add)
    assert {"organization", "entity_type", "currency"} <= set(page.context["adminform"].form.fields)

    response = staff.post(
        add,
        form_data(page, organization=str(organization.pk), entity_type="client", balance="500.00"),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert CreditAccount.objects.get(organization=organization).balance == Decimal("0.00")
