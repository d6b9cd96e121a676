"""What every admin page of the project shares.

- `MikeModelAdmin` (and `MikeTabularInline`) is the base of every ModelAdmin: JSON fields refuse
  NaN and Infinity, phone fields are stored in E.164, related objects are shown the way their own
  admin labels them (`related_label`: recipients with their code masked), and a change writes only
  the columns its form edits.
- `ReadOnlyAdminMixin` for rows that services write and nobody edits (audit logs, ledgers).
- `AutocompleteJsonView` labels autocomplete answers with `related_label` too.
"""

import math
from collections.abc import Callable

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote
from django.contrib.admin.views.autocomplete import AutocompleteJsonView as DjangoAutocomplete
from django.db import models
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from .phones import normalize_phone

NOT_A_JSON_NUMBER = "NaN and Infinity are not JSON numbers."
NOT_A_PHONE = "Enter a phone number, e.g. +1 555 201 0001 or (555) 201-0001."
# Model fields that hold a phone number: `phone`, `contact_phone`, `caller_phone`, `phone_number`,
# `forward_to_number`. Other numbers (card numbers, condition numbers) are not CharFields by
# these names; tests/core/test_admin_forms.py lists every field this matches.
PHONE_NAME_ENDINGS = ("phone", "phone_number", "to_number")


def _has_non_finite_number(value) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite_number(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_non_finite_number(item) for item in value)
    return False


class StrictJSONField(forms.JSONField):
    """Django's JSON form field parses with Python's json module, which reads `NaN`, `Infinity`
    and numbers too large for a float (`1e999`) as floats JSON has no spelling for; PostgreSQL's
    jsonb then refuses the row (a 500). Here they are a field error instead."""

    default_error_messages = {"non_finite": NOT_A_JSON_NUMBER}

    def to_python(self, value):
        converted = super().to_python(value)
        if _has_non_finite_number(converted):
            raise forms.ValidationError(self.error_messages["non_finite"], code="non_finite")
        return converted


class PhoneField(forms.CharField):
    """A phone number as staff type it, cleaned to E.164 (mike.core.phones) as the webhooks and
    imports store it, so look-ups by caller ID find it. Blank stays blank (the model says whether
    blank is allowed); anything that cannot be a phone number is a field error."""

    default_error_messages = {"invalid": NOT_A_PHONE}

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        phone = normalize_phone(value)
        if not phone:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return phone


def is_phone_field(db_field) -> bool:
    return (
        isinstance(db_field, models.CharField)
        and not db_field.choices
        and db_field.name.endswith(PHONE_NAME_ENDINGS)
    )


def related_label_for(admin_site, model) -> Callable | None:
    """How the admin of `model` wants its objects shown on other models' pages, or None for str()."""
    return getattr(admin_site._registry.get(model), "related_label", None)


class MikeFormFieldsMixin:
    """Form fields of every project admin and inline (see the module docstring)."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # Set here rather than in `formfield_overrides`, which a subclass may replace.
        if isinstance(db_field, models.JSONField):
            kwargs.setdefault("form_class", StrictJSONField)
        elif is_phone_field(db_field):
            kwargs.setdefault("form_class", PhoneField)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        label = related_label_for(self.admin_site, db_field.remote_field.model)
        if formfield is not None and label is not None:
            # The select (and the autocomplete's chosen option) shows this, not str().
            formfield.label_from_instance = label
        return formfield


def _related_column(field, label: Callable) -> Callable:
    """A changelist column showing `field`'s related object through `label` (plain text: the
    row's first column is already a link)."""

    @admin.display(description=field.verbose_name, ordering=field.name)
    def column(obj):
        related = getattr(obj, field.name)
        return None if related is None else label(related)

    column.__name__ = field.name
    return column


def _related_readonly(field, label: Callable, admin_site) -> Callable:
    """A read-only change-page field showing `field`'s related object through `label`, linked
    to its page as Django links read-only foreign keys."""

    @admin.display(description=capfirst(field.verbose_name))
    def readonly(obj):
        related = getattr(obj, field.name)
        if related is None:
            return None
        opts = related._meta
        try:
            url = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change",
                args=[quote(related.pk)],
                current_app=admin_site.name,
            )
        except NoReverseMatch:
            return label(related)
        return format_html('<a href="{}">{}</a>', url, label(related))

    readonly.__name__ = field.name
    return readonly


class _NamedAs:
    """An object as the admin names it in its messages and labels: str() is the given label,
    every attribute the object's."""

    def __init__(self, obj, label: str):
        self._obj, self._label = obj, label

    def __str__(self):
        return self._label

    def __getattr__(self, name):
        return getattr(self._obj, name)


class MikeModelAdmin(MikeFormFieldsMixin, admin.ModelAdmin):
    """The base of every ModelAdmin of the project (tests/core/test_admin_forms.py checks it)."""

    # A model whose objects must not be shown by str() on other pages defines
    # `related_label(self, obj) -> str` on its admin (see RecipientAdmin).
    related_label = None

    def _named(self, obj):
        return obj if self.related_label is None else _NamedAs(obj, self.related_label(obj))

    def action_checkbox(self, obj):
        return super().action_checkbox(self._named(obj))

    def response_add(self, request, obj, post_url_continue=None):
        # "The recipient … was added successfully" names the object by str().
        return super().response_add(request, self._named(obj), post_url_continue)

    def response_change(self, request, obj):
        return super().response_change(request, self._named(obj))

    def _relabelled_foreign_keys(self):
        for field in self.model._meta.concrete_fields:
            if field.is_relation:
                label = related_label_for(self.admin_site, field.related_model)
                if label is not None:
                    yield field, label

    def get_list_display(self, request):
        columns = {
            field.name: _related_column(field, label)
            for field, label in self._relabelled_foreign_keys()
        }
        return [columns.get(name, name) for name in super().get_list_display(request)]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # Swapped here, once every read-only field of the page is known (get_readonly_fields,
        # or every field when the user may only view): an editable foreign key keeps its widget,
        # labelled by formfield_for_foreignkey.
        adminform = context.get("adminform")
        if adminform is not None:
            readonly = list(adminform.readonly_fields)
            swaps = {
                field.name: _related_readonly(field, label, self.admin_site)
                for field, label in self._relabelled_foreign_keys()
                if field.name in readonly
            }
            if swaps:
                adminform.readonly_fields = [swaps.get(name, name) for name in readonly]
                adminform.fieldsets = [
                    (
                        title,
                        {
                            **options,
                            "fields": [
                                tuple(swaps.get(n, n) for n in name)
                                if isinstance(name, (list, tuple))
                                else swaps.get(name, name)
                                for name in options["fields"]
                            ],
                        },
                    )
                    for title, options in adminform.fieldsets
                ]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Write only the columns the form edits: a full save would also write back every
        # read-only column as this request loaded it, undoing what a service changed meanwhile
        # (a claim moves its pool's counters, a webhook a delivery's status).
        edited = [
            field.name
            for field in obj._meta.concrete_fields
            if (field.name in form.fields and not form.fields[field.name].disabled)
            or getattr(field, "auto_now", False)
        ]
        obj.save(update_fields=edited)
        return None


class MikeTabularInline(MikeFormFieldsMixin, admin.TabularInline):
    """The base of every tabular inline of the project."""


class ReadOnlyAdminMixin:
    """For audit and log models: rows are written by services only, never added, edited or deleted
    in the admin (the changelist and change page still show them)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AutocompleteJsonView(DjangoAutocomplete):
    """The admin's autocomplete answers (a list of objects like any changelist), labelled by the
    related admin's `related_label` where it has one: Django's own view sends str()."""

    def serialize_result(self, obj, to_field_name):
        result = super().serialize_result(obj, to_field_name)
        label = getattr(self.model_admin, "related_label", None)
        if label is not None:
            result["text"] = label(obj)
        return result


def action_form_page(modeladmin, request, queryset, *, form, title, intro, submit, label=str):
    """The page an admin action shows to ask for what it needs (a reason, an amount) before it
    acts on the selected rows (each listed as `label(row)`); the action runs again with the
    answer when it is posted."""
    return TemplateResponse(
        request,
        "admin/action_form.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "opts": modeladmin.model._meta,
            "items": [{"pk": row.pk, "label": label(row)} for row in queryset],
            "form": form,
            "intro": intro,
            "submit": submit,
            "action": request.POST.get("action", ""),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": modeladmin.media + form.media,
        },
    )
