"""Every model is in the admin and usable: changelist, add and change pages answer 200 for a
superuser, and no changelist runs a query per row."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests import factories

PROJECT_APPS = ("accounts", "campaigns", "recipients", "giftcards", "calls", "crm")
PROJECT_MODELS = [
    model
    for app_label in PROJECT_APPS
    for model in apps.get_app_config(app_label).get_models()
    if not model.__name__.endswith("ObjectPermission")
]


def factory_for(model):
    return getattr(factories, f"{model.__name__}Factory")


def url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def superuser_client(client):
    user = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_every_project_model_is_registered_and_has_a_factory():
    missing = [m.__name__ for m in PROJECT_MODELS if m not in admin.site._registry]
    assert missing == []
    without_factory = [
        m.__name__ for m in PROJECT_MODELS if not hasattr(factories, f"{m.__name__}Factory")
    ]
    assert without_factory == []


@pytest.mark.django_db
@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m.__name__)
def test_changelist_add_and_change_pages_answer_200(superuser_client, model):
    obj = factory_for(model)()
    assert superuser_client.get(url(model, "changelist")).status_code == 200
    assert superuser_client.get(url(model, "changelist"), {"q": "x"}).status_code == 200
    model_admin = admin.site._registry[model]
    if model_admin.has_add_permission(_request_for(superuser_client)):
        assert superuser_client.get(url(model, "add")).status_code == 200
    assert superuser_client.get(url(model, "change", obj.pk)).status_code == 200


def _request_for(client):
    from django.test import RequestFactory

    from mike.accounts.models import User

    request = RequestFactory().get("/")
    request.user = User.objects.get(pk=client.session["_auth_user_id"])
    return request


def changelist_queries(client, model):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url(model, "changelist"))
    assert response.status_code == 200
    return len(captured)


@pytest.mark.django_db
@pytest.mark.parametrize("model", PROJECT_MODELS, ids=lambda m: m.__name__)
def test_changelist_queries_do_not_grow_with_rows(superuser_client, model):
    factory = factory_for(model)
    factory.create_batch(5)
    with_five = changelist_queries(superuser_client, model)
    factory.create_batch(45)
    assert model.objects.count() >= 50
    with_fifty = changelist_queries(superuser_client, model)
    assert with_fifty == with_five, (
        f"{model.__name__}: {with_five} queries for 5 rows, {with_fifty} for 50"
    )
