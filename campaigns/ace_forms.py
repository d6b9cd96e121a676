"""ACE form services: every write of a form, its fields and its submissions.

Each function takes keyword arguments, validates with `full_clean()` and raises `AceFormError`
with a message a person can read. Moves lock the form row, so two editors reordering one form
are decided one at a time. Counters move with F() expressions, never read-modify-write.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from mike.core.errors import DomainError

from .models import AceForm, AceFormField, AceFormSubmission

FORM_FIELDS = frozenset(
    {"name", "slug", "description", "campaign", "success_message", "reveal_reward"}
)
FIELD_FIELDS = frozenset(
    {"label", "name", "field_type", "required", "position", "help_text", "placeholder", "options"}
)


class AceFormError(DomainError):
    """A form or field change was refused; `errors` maps field names to messages."""

    def __init__(self, message: str, errors: dict | None = None):
        super().__init__(message)
        self.errors = errors or {}


def _validated_save(instance) -> None:
    try:
        instance.full_clean()
    except ValidationError as error:
        errors = error.message_dict
        raise AceFormError(" ".join(m for ms in errors.values() for m in ms), errors) from error
    instance.save()


def _check_campaign(client, campaign) -> None:
    if campaign is not None and campaign.client_id != client.pk:
        raise AceFormError(
            "Choose a campaign of this client.", {"campaign": ["Choose a campaign of this client."]}
        )


@transaction.atomic
def create_form(*, client, by=None, **values) -> AceForm:
    """A new form of `client`, a draft until published."""
    unknown = set(values) - FORM_FIELDS
    if unknown:
        raise AceFormError(f"Unknown form settings: {', '.join(sorted(unknown))}.")
    _check_campaign(client, values.get("campaign"))
    form = AceForm(client=client, created_by=by, is_draft=True, **values)
    _validated_save(form)
    return form


@transaction.atomic
def update_form(*, form: AceForm, **values) -> AceForm:
    unknown = set(values) - FORM_FIELDS
    if unknown:
        raise AceFormError(f"Unknown form settings: {', '.join(sorted(unknown))}.")
    form = AceForm.objects.select_for_update().get(pk=form.pk)
    _check_campaign(form.client, values.get("campaign"))
    for name, value in values.items():
        setattr(form, name, value)
    _validated_save(form)
    return form


@transaction.atomic
def set_published(*, form: AceForm, published: bool) -> AceForm:
    """Publish (live at /f/<slug>/) or take back to draft. A form without fields cannot go live."""
    form = AceForm.objects.select_for_update().get(pk=form.pk)
    if published and not form.fields.exists():
        raise AceFormError("Add at least one field before publishing the form.")
    form.is_draft = not published
    if published:
        form.is_active = True
    form.save(update_fields=["is_draft", "is_active", "updated_at"])
    return form


def _next_position(form: AceForm) -> int:
    last = form.fields.order_by("-position").values_list("position", flat=True).first()
    return 0 if last is None else last + 1


@transaction.atomic
def save_field(*, form: AceForm, field: AceFormField | None = None, **values) -> AceFormField:
    """Add a field at the end of the form, or change `field`. Names are unique within a form."""
    unknown = set(values) - FIELD_FIELDS
    if unknown:
        raise AceFormError(f"Unknown field settings: {', '.join(sorted(unknown))}.")
    AceForm.objects.select_for_update().only("pk").get(pk=form.pk)
    if field is None:
        field = AceFormField(form=form, position=_next_position(form))
    for name, value in values.items():
        setattr(field, name, value)
    if (
        AceFormField.objects.filter(form=form, name=field.name)
        .exclude(pk=field.pk if field.pk and not field._state.adding else None)
        .exists()
    ):
        message = f"The form already has a field named {field.name}."
        raise AceFormError(message, {"name": [message]})
    _validated_save(field)
    return field


@transaction.atomic
def delete_field(*, field: AceFormField) -> None:
    AceForm.objects.select_for_update().only("pk").get(pk=field.form_id)
    field.delete()


@transaction.atomic
def move_field(*, field: AceFormField, direction: str) -> None:
    """Swap `field` with its neighbour above ("up") or below ("down"); at an end, nothing moves.
    Positions are renumbered 0..n-1 first, so gaps and ties from older edits never stall a move."""
    if direction not in ("up", "down"):
        raise AceFormError("A field moves up or down.")
    AceForm.objects.select_for_update().only("pk").get(pk=field.form_id)
    ordered = list(AceFormField.objects.filter(form_id=field.form_id).order_by("position", "name"))
    index = next(i for i, f in enumerate(ordered) if f.pk == field.pk)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, each in enumerate(ordered):
        if each.position != position:
            AceFormField.objects.filter(pk=each.pk).update(position=position)


def count_view(*, form: AceForm) -> None:
    AceForm.objects.filter(pk=form.pk).update(total_views=F("total_views") + 1)


def record_submission(
    *, form: AceForm, values: dict, recipient=None, ip: str = "", user_agent: str = ""
) -> AceFormSubmission:
    """Store one submission and count it on the form (atomically, with F()). Call inside the
    transaction that does what the submission triggers."""
    submission = AceFormSubmission.objects.create(
        form=form,
        recipient=recipient,
        submission_data=values,
        ip_address=ip or None,
        user_agent=user_agent[:1000],
    )
    AceForm.objects.filter(pk=form.pk).update(total_submissions=F("total_submissions") + 1)
    return submission
