"""The Django form a public ACE form is rendered and validated with, built from its
`AceFormField` rows: one clear message per field, phones normalised to E.164, and the spam
checks (a honeypot and a signed start time) as hidden fields."""

import time

from django import forms
from django.conf import settings
from django.core import signing

from campaigns.models import AceFieldType, AceForm
from mike.core.errors import DomainError
from mike.core.phones import format_national, normalize_phone
from recipients.codes import normalize_code
from recipients.models import Recipient

HONEYPOT = "_website"
STARTED = "_started"
TOKEN = "_t"  # noqa: S105 (the name of the hidden field, not a secret)
STARTED_SALT = "mike.aceforms.started"
# A page left open longer than this is stale: its start time is refused and the person is asked
# to send the form again (with a fresh one).
MAX_FORM_AGE_SECONDS = 24 * 60 * 60


class SpamRefused(DomainError):
    """A submission refused as spam (honeypot, too fast, forged start); the view tells the
    person why in plain words and stores nothing."""


def sign_start(now: float | None = None) -> str:
    return signing.dumps(round(now if now is not None else time.time(), 3), salt=STARTED_SALT)


def check_spam(data) -> None:
    """Raise SpamRefused with the words to show when the honeypot is filled, the start time is
    missing, forged or stale, or the form was sent faster than FORM_MIN_FILL_SECONDS."""
    if data.get(HONEYPOT):
        raise SpamRefused(
            "Your form looked automated (a hidden field was filled in), so it was not sent."
        )
    try:
        started = float(signing.loads(data.get(STARTED, ""), salt=STARTED_SALT))
    except (signing.BadSignature, TypeError, ValueError):
        raise SpamRefused(
            "This form could not be checked. Please reload the page and send it again."
        ) from None
    elapsed = time.time() - started
    if elapsed > MAX_FORM_AGE_SECONDS:
        raise SpamRefused("This page was open too long. Please reload it and send the form again.")
    if elapsed < settings.FORM_MIN_FILL_SECONDS:
        raise SpamRefused(
            "That was faster than a person can fill in the form, so it was not sent. "
            "Please wait a moment and send it again."
        )


class DateInput(forms.DateInput):
    input_type = "date"


class PublicForm(forms.Form):
    """Fields in `position` order, keyed by each field's `name`. `recipient` is who the page was
    opened for (by code or token); a redemption-code field typed in matches one instead."""

    def __init__(self, *args, ace_form: AceForm, recipient: Recipient | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ace_form = ace_form
        self.recipient = recipient
        self.code_fields = []
        for field in ace_form.fields.order_by("position", "name"):
            self.fields[field.name] = self._field(field)
            if field.field_type == AceFieldType.REDEMPTION_CODE:
                self.code_fields.append(field.name)

    def _field(self, field):
        required_message = f"Please fill in {field.label.lower()}."
        common = {
            "label": field.label,
            "required": field.required,
            "help_text": field.help_text,
            "error_messages": {"required": required_message},
        }
        attrs = {"placeholder": field.placeholder} if field.placeholder else {}
        kind = field.field_type
        if kind == AceFieldType.EMAIL:
            common["error_messages"]["invalid"] = "Enter an email address, like name@example.com."
            return forms.EmailField(
                max_length=254,
                widget=forms.EmailInput(attrs=attrs | {"autocomplete": "email"}),
                **common,
            )
        if kind == AceFieldType.PHONE:
            return forms.CharField(
                max_length=40,
                widget=forms.TextInput(attrs=attrs | {"type": "tel", "autocomplete": "tel"}),
                **common,
            )
        if kind == AceFieldType.TEXTAREA:
            return forms.CharField(
                max_length=5000, widget=forms.Textarea(attrs=attrs | {"rows": 4}), **common
            )
        if kind == AceFieldType.SELECT:
            choices = [("", "Choose one")] + [(str(o), str(o)) for o in field.options or []]
            common["error_messages"]["invalid_choice"] = "Choose one of the options."
            return forms.ChoiceField(choices=choices, **common)
        if kind == AceFieldType.CHECKBOX:
            common["error_messages"]["required"] = "Tick this box to continue."
            return forms.BooleanField(**common)
        if kind == AceFieldType.NUMBER:
            common["error_messages"]["invalid"] = "Enter a number, like 3 or 12.5."
            return forms.DecimalField(
                max_digits=15, decimal_places=4, widget=forms.NumberInput(attrs=attrs), **common
            )
        if kind == AceFieldType.DATE:
            common["error_messages"]["invalid"] = "Enter a date, like 2026-05-31."
            return forms.DateField(widget=DateInput(attrs=attrs), **common)
        if kind == AceFieldType.REDEMPTION_CODE:
            return forms.CharField(
                max_length=60,
                widget=forms.TextInput(
                    attrs=attrs | {"autocapitalize": "characters", "spellcheck": "false"}
                ),
                **common,
            )
        return forms.CharField(max_length=500, widget=forms.TextInput(attrs=attrs), **common)

    def clean(self):
        cleaned = super().clean()
        for field in self.ace_form.fields.all():
            value = cleaned.get(field.name)
            if field.field_type == AceFieldType.PHONE and value:
                phone = normalize_phone(value)
                if not phone:
                    self.add_error(
                        field.name, "Enter a phone number with its area code, like (555) 201-0001."
                    )
                else:
                    cleaned[field.name] = phone
        for name in self.code_fields:
            typed = cleaned.get(name)
            if not typed:
                continue
            found = recipients_of(self.ace_form).by_code(typed).first()
            if found is None:
                self.add_error(
                    name, "We couldn't find that code. Check it against your mailer and try again."
                )
            elif self.recipient is not None and found.pk != self.recipient.pk:
                self.add_error(name, "That code is not the one this page was opened with.")
            else:
                self.recipient = found
                cleaned[name] = found.redemption_code
        return cleaned

    def values(self) -> dict:
        """The cleaned data as JSON: dates ISO, numbers as text, booleans as they are."""
        out = {}
        for name, value in self.cleaned_data.items():
            if value is None:
                value = ""
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            elif not isinstance(value, (bool, str)):
                value = str(value)
            out[name] = value
        return out


def recipients_of(ace_form: AceForm):
    """The recipients a form may match: its client's only, so a code or token of another tenant
    is simply not found."""
    return Recipient.objects.select_related("audience__client", "campaign").filter(
        audience__client_id=ace_form.client_id
    )


def match_recipient(ace_form: AceForm, *, code: str = "", token: str = "") -> Recipient | None:
    qs = recipients_of(ace_form)
    if token:
        return qs.filter(token=token[:100]).first()
    if code:
        return qs.filter(redemption_code=normalize_code(code[:60])).first()
    return None


PREFILL = {
    AceFieldType.EMAIL: "email",
    AceFieldType.PHONE: "phone",
}
NAME_PREFILL = ("first_name", "last_name", "email", "phone", "zip", "city", "state", "address1")


def initial_for(ace_form: AceForm, recipient: Recipient | None) -> dict:
    """What the page shows filled in for a matched recipient: their code in code fields, and the
    fields named after what the recipient row knows (first_name, email, phone…)."""
    if recipient is None:
        return {}
    initial = {}
    for field in ace_form.fields.all():
        if field.field_type == AceFieldType.REDEMPTION_CODE:
            initial[field.name] = recipient.display_code
        elif field.name in NAME_PREFILL:
            initial[field.name] = getattr(recipient, field.name, "")
        elif field.field_type in PREFILL:
            initial[field.name] = getattr(recipient, PREFILL[field.field_type], "")
        if field.field_type == AceFieldType.PHONE and initial.get(field.name):
            initial[field.name] = format_national(initial[field.name])
    return initial
