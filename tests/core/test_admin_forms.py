"""What every admin form shares (mike.core.admin.MikeModelAdmin): JSON fields refuse NaN and
Infinity, phone fields are stored in E.164, and a change writes only the columns its form edits."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import models
from django.test import RequestFactory
from django.urls import reverse

from calls.models import TrackedPhoneNumber
from giftcards.models import GiftCardBrand
from mike.core.admin import (
    NOT_A_JSON_NUMBER,
    NOT_A_PHONE,
    MikeFormFieldsMixin,
    MikeModelAdmin,
    PhoneField,
    StrictJSONField,
    is_phone_field,
)
from tests import factories
from tests.admin_forms import form_data

PROJECT_APPS = ("accounts", "campaigns", "recipients", "giftcards", "calls", "crm")
PROJECT_ADMINS = [
    (model, model_admin)
    for model, model_admin in admin.site._registry.items()
    if model._meta.app_label in PROJECT_APPS
]


def change_url(obj):
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


@pytest.fixture
def superuser(db):
    return factories.UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff(client, superuser):
    client.force_login(superuser)
    return client


def test_every_project_model_admin_and_inline_derives_from_the_mike_base():
    assert len(PROJECT_ADMINS) > 30
    not_mike = [
        type(model_admin).__name__
        for _, model_admin in PROJECT_ADMINS
        if not isinstance(model_admin, MikeModelAdmin)
    ]
    assert not_mike == []
    inlines = [inline for _, model_admin in PROJECT_ADMINS for inline in model_admin.inlines]
    assert inlines
    assert [i.__name__ for i in inlines if not issubclass(i, MikeFormFieldsMixin)] == []


def test_the_phone_fields_are_the_ones_named_like_phones():
    found = {
        f"{model.__name__}.{field.name}"
        for app_label in PROJECT_APPS
        for model in apps.get_app_config(app_label).get_models()
        for field in model._meta.concrete_fields
        if is_phone_field(field)
    }
    assert found == {
        "User.phone",
        "Organization.contact_phone",
        "Recipient.phone",
        "SmsOptInLog.phone",
        "SmsDeliveryLog.phone_number",
        "TrackedPhoneNumber.phone_number",
        "TrackedPhoneNumber.forward_to_number",
        "CallSession.caller_phone",
        "CallSession.forward_to_number",
        "Contact.phone",
        "Contact.mobile_phone",
    }


def _forms_of(model_admin, request, obj):
    yield model_admin.get_form(request, obj, change=True)
    for inline in model_admin.get_inline_instances(request, obj):
        yield inline.get_formset(request, obj).form


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "model_admin"), PROJECT_ADMINS, ids=lambda m: getattr(m, "__name__", "")
)
def test_every_editable_json_and_phone_field_gets_the_strict_form_field(
    superuser, model, model_admin
):
    request = RequestFactory().get("/")
    request.user = superuser
    obj = getattr(factories, f"{model.__name__}Factory")()
    for form in _forms_of(model_admin, request, obj):
        for name, formfield in form.base_fields.items():
            try:
                db_field = form._meta.model._meta.get_field(name)
            except Exception:  # a form-only field (the card's clear code)
                continue
            if isinstance(db_field, models.JSONField):
                assert isinstance(formfield, StrictJSONField), f"{model.__name__}.{name}"
            if is_phone_field(db_field):
                assert isinstance(formfield, PhoneField), f"{model.__name__}.{name}"


# --- JSON ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["NaN", "[1, NaN]", '{"x": Infinity}', "-Infinity", "[1e999]"])
def test_nan_or_infinity_in_a_json_field_is_a_form_error_not_a_500(staff, value):
    brand = factories.GiftCardBrandFactory(typical_denominations=[10, 25])
    page = staff.get(change_url(brand))

    response = staff.post(change_url(brand), form_data(page, typical_denominations=value))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "typical_denominations": [NOT_A_JSON_NUMBER]
    }
    assert GiftCardBrand.objects.get(pk=brand.pk).typical_denominations == [10, 25]


@pytest.mark.django_db
def test_ordinary_json_is_still_saved(staff):
    brand = factories.GiftCardBrandFactory(typical_denominations=[10, 25])
    page = staff.get(change_url(brand))

    response = staff.post(change_url(brand), form_data(page, typical_denominations="[5, 12.5]"))

    assert response.status_code == 302
    assert GiftCardBrand.objects.get(pk=brand.pk).typical_denominations == [5, 12.5]


@pytest.mark.django_db
def test_nan_is_refused_inside_an_inline_too(staff):
    form = factories.AceFormFactory()
    page = staff.get(change_url(form))
    data = form_data(
        page,
        **{
            "fields-TOTAL_FORMS": "1",
            "fields-0-position": "1",
            "fields-0-name": "budget",
            "fields-0-label": "Budget",
            "fields-0-field_type": "text",
            "fields-0-options": "[NaN]",
        },
    )

    response = staff.post(change_url(form), data)

    assert response.status_code == 200
    [inline] = response.context["inline_admin_formsets"]
    assert inline.formset.errors[0]["options"] == [NOT_A_JSON_NUMBER]
    assert not form.fields.exists()


# --- Phones --------------------------------------------------------------------------------------

PHONE_CASES = [
    (factories.RecipientFactory, "phone"),
    (factories.ContactFactory, "phone"),
    (factories.ContactFactory, "mobile_phone"),
    (factories.TrackedPhoneNumberFactory, "phone_number"),
    (factories.TrackedPhoneNumberFactory, "forward_to_number"),
    (factories.ClientFactory, "contact_phone"),
    (factories.UserFactory, "phone"),
]
PHONE_IDS = [f"{f._meta.model.__name__}.{name}" for f, name in PHONE_CASES]


@pytest.mark.django_db
@pytest.mark.parametrize(("factory", "field"), PHONE_CASES, ids=PHONE_IDS)
def test_a_phone_typed_in_the_admin_is_stored_in_e164(staff, factory, field):
    obj = factory()
    page = staff.get(change_url(obj))

    response = staff.post(change_url(obj), form_data(page, **{field: " (555) 201-0042 "}))

    assert response.status_code == 302, response.context["adminform"].form.errors
    obj.refresh_from_db()
    assert getattr(obj, field) == "+15552010042"


@pytest.mark.django_db
@pytest.mark.parametrize(("factory", "field"), PHONE_CASES, ids=PHONE_IDS)
def test_a_value_that_cannot_be_a_phone_is_a_field_error(staff, factory, field):
    obj = factory()
    before = getattr(obj, field)
    page = staff.get(change_url(obj))

    response = staff.post(change_url(obj), form_data(page, **{field: "call me maybe"}))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {field: [NOT_A_PHONE]}
    obj.refresh_from_db()
    assert getattr(obj, field) == before


@pytest.mark.django_db
def test_a_blank_optional_phone_stays_blank_and_a_required_one_is_required(staff):
    number = factories.TrackedPhoneNumberFactory()
    page = staff.get(change_url(number))

    response = staff.post(change_url(number), form_data(page, forward_to_number=""))
    assert response.status_code == 302
    number.refresh_from_db()
    assert number.forward_to_number == ""

    page = staff.get(change_url(number))
    response = staff.post(change_url(number), form_data(page, phone_number="  "))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["phone_number"]


@pytest.mark.django_db
def test_a_tracked_number_added_in_the_admin_is_stored_in_e164(staff):
    campaign = factories.CampaignFactory()
    add = reverse("admin:calls_trackedphonenumber_add")
    page = staff.get(add)

    response = staff.post(
        add,
        form_data(
            page,
            client=str(campaign.client.pk),
            campaign=str(campaign.pk),
            phone_number="800.555.0123",
            forward_to_number="+1 (800) 555-0199",
            status="assigned",
            monthly_cost="1.00",
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    number = TrackedPhoneNumber.objects.get()
    assert (number.phone_number, number.forward_to_number) == ("+18005550123", "+18005550199")


@pytest.mark.django_db
def test_two_spellings_of_one_number_are_one_tracked_number(staff):
    factories.TrackedPhoneNumberFactory(phone_number="+18005550123")
    number = factories.TrackedPhoneNumberFactory()
    page = staff.get(change_url(number))

    response = staff.post(change_url(number), form_data(page, phone_number="(800) 555-0123"))

    assert response.status_code == 200
    assert "phone_number" in response.context["adminform"].form.errors


# --- Saving ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_change_writes_only_the_columns_its_form_edits(superuser):
    """A claim or import moves a pool's counters while staff have its page open; saving the page
    must not write back the counters it loaded."""
    pool = factories.GiftCardPoolFactory()
    model_admin = admin.site._registry[type(pool)]
    request = RequestFactory().post("/")
    request.user = superuser
    stale = type(pool).objects.get(pk=pool.pk)
    factories.GiftCardFactory.create_batch(3, pool=pool)  # the counters move meanwhile

    form_class = model_admin.get_form(request, stale, change=True)
    form = form_class(
        instance=stale, data={**_initial(form_class, stale), "low_stock_threshold": 3}
    )
    assert form.is_valid(), form.errors
    model_admin.save_model(request, form.save(commit=False), form, change=True)

    pool.refresh_from_db()
    assert (pool.low_stock_threshold, pool.total_cards, pool.available_cards) == (3, 3, 3)


def _initial(form_class, instance):
    form = form_class(instance=instance)
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        data[name] = "" if value is None else value
    return {k: v for k, v in data.items() if v is not False}


@pytest.mark.django_db
def test_the_numbers_a_call_came_from_and_was_forwarded_to_are_read_only(staff):
    """Caller ID is what the carrier sent (not always a phone number), the forward-to number what
    the TwiML answer dialled: facts of the call, so editing the call's notes never trips on them."""
    call = factories.CallSessionFactory(caller_phone="anonymous", forward_to_number="+18005550100")
    page = staff.get(change_url(call))
    assert {"caller_phone", "forward_to_number"}.isdisjoint(page.context["adminform"].form.fields)

    response = staff.post(
        change_url(call),
        form_data(page, notes="Asked about Saturday", caller_phone="+15550000000"),
    )

    assert response.status_code == 302
    call.refresh_from_db()
    assert (call.notes, call.caller_phone) == ("Asked about Saturday", "anonymous")
