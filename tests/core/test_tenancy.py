"""Every tenant model scopes through `for_user`: each role sees exactly its clients' rows."""

import pytest
from django.apps import apps

from mike.accounts.models import Organization, Role
from mike.accounts.services import grant_role
from tests import factories

TENANT_MODELS = [
    model
    for app_label in ("accounts", "campaigns", "recipients", "giftcards", "calls", "crm")
    for model in apps.get_app_config(app_label).get_models()
    if hasattr(model, "client_lookup") and hasattr(model.objects, "for_user")
]


def client_of(obj):
    """Walk the model's client_lookup from a row to its client Organization."""
    value = obj
    for part in obj.client_lookup.split("__"):
        if part == "pk":
            return value
        value = getattr(value, part)
        if value is None:
            return None
    return value


def test_every_model_with_tenant_data_declares_its_scope():
    names = {m.__name__ for m in TENANT_MODELS}
    for expected in (
        "Campaign",
        "CampaignCondition",
        "Recipient",
        "Audience",
        "GiftCardPool",
        "GiftCard",
        "RecipientGiftCard",
        "CreditTransaction",
        "CallSession",
        "TrackedPhoneNumber",
        "Contact",
        "CrmEvent",
        "Event",
        "ApiKey",
    ):
        assert expected in names


@pytest.mark.django_db
@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("role", [Role.CLIENT_USER, Role.CLIENT_ADMIN, Role.CALL_CENTER_AGENT])
def test_client_roles_see_exactly_their_clients_rows(model, role):
    factory = getattr(factories, f"{model.__name__}Factory")
    mine, theirs = factory(), factory()
    my_client = client_of(mine)
    assert isinstance(my_client, Organization)
    assert client_of(theirs) != my_client

    user = factories.UserFactory()
    grant_role(user=user, role=role, organization=my_client)

    visible = set(model.objects.for_user(user))
    expected = {obj for obj in model.objects.all() if client_of(obj) == my_client}
    assert mine in visible
    assert theirs not in visible
    assert visible == expected


@pytest.mark.django_db
@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m.__name__)
def test_agency_roles_see_their_clients_rows_and_not_another_agencys(model):
    factory = getattr(factories, f"{model.__name__}Factory")
    mine, theirs = factory(), factory()
    agency = client_of(mine).parent
    assert agency is not None and client_of(theirs).parent != agency

    user = factories.UserFactory()
    grant_role(user=user, role=Role.AGENCY_USER, organization=agency)
    visible = set(model.objects.for_user(user))
    assert mine in visible and theirs not in visible


@pytest.mark.django_db
@pytest.mark.parametrize("model", TENANT_MODELS, ids=lambda m: m.__name__)
def test_staff_see_all_and_anonymous_or_roleless_users_see_nothing(model):
    from django.contrib.auth.models import AnonymousUser

    factory = getattr(factories, f"{model.__name__}Factory")
    factory()
    factory()
    total = model.objects.count()
    assert model.objects.for_user(factories.UserFactory(is_staff=True)).count() == total
    assert model.objects.for_user(factories.UserFactory()).count() == 0
    assert model.objects.for_user(AnonymousUser()).count() == 0
