"""What every admin page of the project shares.

- `MikeModelAdmin` (and `MikeTabularInline`) is the base of every ModelAdmin: JSON fields refuse
  NaN and Infinity, phone fields are stored in E.164, and a change writes only the columns its form
  edits.
- `ReadOnlyAdminMixin` for rows that services write and nobody edits (audit logs, ledgers).
"""

import math

from django import forms
from django.contrib import admin
from django.db import models

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


class MikeFormFieldsMixin:
    """Form fields of every project admin and inline (see the module docstring)."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # Set here rather than in `formfield_overrides`, which a subclass may replace.
        if isinstance(db_field, models.JSONField):
            kwargs.setdefault("form_class", StrictJSONField)
        elif is_phone_field(db_field):
            kwargs.setdefault("form_class", PhoneField)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class MikeModelAdmin(MikeFormFieldsMixin, admin.ModelAdmin):
    """The base of every ModelAdmin of the project (tests/core/test_admin_forms.py checks it)."""

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
