"""Campaign services: every write of a campaign and its conditions.

Each function takes keyword arguments, locks the campaign row it changes (`select_for_update`, so
two people editing one campaign are decided one at a time), validates with `full_clean()` and
raises a `CampaignError` whose message a person can read. Status changes and creations write an
`Event` beside the change (who did it, from what to what), the campaign's history.

The tracked number printed on a campaign belongs to the calls domain
(`calls.services.assign_tracked_number`); the dashboard calls it directly.

`erase_recipient_data` is this domain's part of a recipient's erasure (mike.rewards.erasure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from mike import webhooks
from mike.core import redaction
from mike.core.errors import DomainError
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType

from .models import (
    AceFormSubmission,
    Campaign,
    CampaignCondition,
    CampaignStatus,
    Event,
    EventSource,
    EventType,
)

MAX_CONDITIONS = 3
# What a person may set on a campaign (the client, status and creator are set by the services).
EDITABLE_FIELDS = frozenset(
    {
        "name",
        "audience",
        "template",
        "mail_date",
        "mailing_method",
        "size",
        "postage",
        "vendor",
        "lp_mode",
        "base_lp_url",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "landing_page",
        "contact_list",
        "rewards_enabled",
        "sms_opt_in_message",
        "allocated_budget",
    }
)
CONDITION_FIELDS = frozenset(
    {
        "condition_name",
        "trigger_type",
        "crm_event_name",
        "time_delay_hours",
        "min_call_duration_seconds",
        "form",
        "is_active",
        "brand",
        "card_value",
        "sms_template",
    }
)
# Editable fields duplicate_campaign leaves blank: the mail date belongs to the original's mailing.
NOT_COPIED = frozenset({"mail_date"})


class CampaignError(DomainError):
    """A campaign write was refused; `str()` says why in words a person can act on."""

    def __init__(self, message: str, *, campaign: Campaign | None = None):
        self.campaign = campaign
        super().__init__(message)


class CampaignClosed(CampaignError):
    def __init__(self, campaign: Campaign):
        super().__init__(
            f"{campaign.name} is {campaign.get_status_display().lower()}: it can no longer be "
            "changed.",
            campaign=campaign,
        )


class CampaignInvalid(CampaignError):
    """What a person entered does not make a valid campaign. `errors` maps field names to
    messages, for a form to show beside its fields."""

    def __init__(self, errors: Mapping[str, Sequence[str]], *, campaign: Campaign | None = None):
        self.errors = {field: list(messages) for field, messages in errors.items()}
        summary = " ".join(message for messages in self.errors.values() for message in messages)
        super().__init__(summary or "The campaign is not valid.", campaign=campaign)


class ConditionsInvalid(CampaignError):
    """One or more conditions are not valid. `errors` maps each condition's index in the list
    given (0-based) to its field errors."""

    def __init__(self, errors: Mapping[int, Mapping[str, Sequence[str]]], *, campaign=None):
        self.errors = {
            index: {field: list(messages) for field, messages in fields.items()}
            for index, fields in errors.items()
        }
        parts = [
            f"Condition {index + 1}: {' '.join(m for ms in fields.values() for m in ms)}"
            for index, fields in sorted(self.errors.items())
        ]
        super().__init__(" ".join(parts), campaign=campaign)


class TooManyConditions(CampaignError):
    def __init__(self, count: int, *, campaign=None):
        self.count = count
        super().__init__(
            f"A campaign has one to {MAX_CONDITIONS} conditions; {count} were given.",
            campaign=campaign,
        )


class ConditionInUse(CampaignError):
    def __init__(self, condition: CampaignCondition):
        self.condition = condition
        super().__init__(
            f"Condition {condition.condition_number} ({condition.condition_name}) has been met "
            "by recipients, so it cannot be removed; switch it off instead.",
            campaign=condition.campaign,
        )


class TransitionRefused(CampaignError):
    def __init__(self, campaign: Campaign, to: str):
        self.to = to
        allowed = [CampaignStatus(s).label.lower() for s in campaign.next_statuses]
        current = campaign.get_status_display().lower()
        wanted = CampaignStatus(to).label.lower() if to in CampaignStatus.values else repr(to)
        if allowed:
            hint = f"it can move to {_or_list(allowed)}."
        else:
            hint = "it does not change status any more."
        super().__init__(f"A {current} campaign cannot be {wanted}: {hint}", campaign=campaign)


class CampaignNotReady(CampaignError):
    """The campaign lacks what it needs before it is proofed (and so printed and mailed)."""

    def __init__(self, campaign: Campaign, missing: list[str]):
        self.missing = missing
        super().__init__(
            f"{campaign.name} is not ready to be proofed: it needs {_and_list(missing)}.",
            campaign=campaign,
        )


def _or_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _and_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _validation_errors(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {field: list(messages) for field, messages in error.message_dict.items()}
    return {"__all__": list(error.messages)}


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update().select_related("client").get(pk=campaign.pk)


def _check_fields(changes: Mapping, allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise TypeError(f"{what} does not take {', '.join(unknown)}.")


def _by_id(by) -> str | None:
    return str(by.pk) if by is not None and getattr(by, "pk", None) else None


# --- Creating and editing ------------------------------------------------------------------------


@transaction.atomic
def create_campaign(*, client, by, name: str, **fields) -> Campaign:
    """A new draft campaign of `client`, created by `by`. Takes the `EDITABLE_FIELDS`; the
    audience (and template, landing page, contact list) must be the client's. Records a
    `campaign_created` event. Raises `CampaignInvalid` with field errors."""
    _check_fields(fields, EDITABLE_FIELDS - {"name"}, "create_campaign")
    campaign = Campaign(
        client=client, name=(name or "").strip(), status=CampaignStatus.DRAFT, created_by=by
    )
    for field, value in fields.items():
        setattr(campaign, field, value)
    try:
        campaign.full_clean()
    except ValidationError as error:
        raise CampaignInvalid(_validation_errors(error)) from error
    campaign.save()
    Event.objects.record(
        EventType.CAMPAIGN_CREATED, campaign=campaign, source=EventSource.ADMIN, by=_by_id(by)
    )
    webhooks.emit(
        WebhookEventType.CAMPAIGN_CREATED,
        client=campaign.client_id,
        payload=payloads.campaign(campaign),
    )
    return campaign


@transaction.atomic
def update_campaign(*, campaign: Campaign, by, **changes) -> Campaign:
    """Change the `EDITABLE_FIELDS` given in `changes`. Locks the campaign; refuses a completed or
    cancelled one (`CampaignClosed`) and invalid values (`CampaignInvalid`). Saving the same
    values again changes nothing."""
    _check_fields(changes, EDITABLE_FIELDS, "update_campaign")
    locked = _locked(campaign)
    if locked.is_closed:
        raise CampaignClosed(locked)
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
    for field, value in changes.items():
        setattr(locked, field, value)
    try:
        locked.full_clean()
    except ValidationError as error:
        raise CampaignInvalid(_validation_errors(error), campaign=locked) from error
    if changes:
        locked.save(update_fields=[*changes, "updated_at"])
    return locked


@transaction.atomic
def set_conditions(
    *, campaign: Campaign, conditions: Sequence[Mapping], by
) -> list[CampaignCondition]:
    """Make the campaign's conditions exactly `conditions`, in that order, numbered 1..n.

    Each entry maps `CONDITION_FIELDS` to values. Condition n keeps its row (and its id, which
    met conditions and rewards point to) and takes the new values; rows beyond n are removed,
    unless recipients met them (`ConditionInUse`: the history must survive, switch it off).
    Locks the campaign, so two editors never interleave. Refuses fewer than one or more than
    three (`TooManyConditions`), invalid values (`ConditionsInvalid`, every condition checked
    before anything is written) and closed campaigns. Idempotent: the same list again leaves
    the same rows."""
    locked = _locked(campaign)
    if locked.is_closed:
        raise CampaignClosed(locked)
    if not 1 <= len(conditions) <= MAX_CONDITIONS:
        raise TooManyConditions(len(conditions), campaign=locked)
    existing = {c.condition_number: c for c in locked.conditions.select_for_update()}
    rows, errors = [], {}
    for index, values in enumerate(conditions):
        _check_fields(values, CONDITION_FIELDS, "set_conditions")
        number = index + 1
        row = existing.get(number) or CampaignCondition(campaign=locked, condition_number=number)
        for field, value in values.items():
            setattr(row, field, value)
        if isinstance(row.condition_name, str):
            row.condition_name = row.condition_name.strip()
        try:
            # The (campaign, number) uniqueness holds by construction: rows are matched by number.
            row.full_clean(validate_constraints=False)
        except ValidationError as error:
            errors[index] = _validation_errors(error)
        rows.append(row)
    if errors:
        raise ConditionsInvalid(errors, campaign=locked)
    surplus = [row for number, row in sorted(existing.items()) if number > len(conditions)]
    for row in surplus:
        if row.met_by.exists() or row.rewards.exists():
            raise ConditionInUse(row)
    for row in surplus:
        row.delete()
    for row in rows:
        row.save()
    return rows


# --- Status ----------------------------------------------------------------------------------------


def readiness_problems(campaign: Campaign) -> list[str]:
    """What the campaign still lacks before it can be proofed, in words (empty when ready)."""
    missing = []
    if campaign.audience_id is None:
        missing.append("an audience")
    if campaign.mail_date is None:
        missing.append("a mail date")
    if not campaign.conditions.filter(is_active=True).exists():
        missing.append("at least one active condition")
    return missing


@transaction.atomic
def change_campaign_status(*, campaign: Campaign, to: str, by) -> Campaign:
    """Move the campaign to status `to`, along `CAMPAIGN_TRANSITIONS` only.

    Locks the campaign. Leaving draft (and every later step) needs an audience, a mail date and
    an active condition (`CampaignNotReady`). A move the transitions do not allow raises
    `TransitionRefused`. Asking for the status the campaign already has changes nothing (a
    double-clicked button is not an error). Records a `campaign_status_changed` event."""
    locked = _locked(campaign)
    if to == locked.status:
        return locked
    if to not in locked.next_statuses:
        raise TransitionRefused(locked, to)
    if to in (CampaignStatus.PROOFED, CampaignStatus.IN_PRODUCTION, CampaignStatus.MAILED):
        missing = readiness_problems(locked)
        if missing:
            raise CampaignNotReady(locked, missing)
    previous = locked.status
    locked.status = to
    locked.save(update_fields=["status", "updated_at"])
    Event.objects.record(
        EventType.CAMPAIGN_STATUS_CHANGED,
        campaign=locked,
        source=EventSource.ADMIN,
        by=_by_id(by),
        status_from=previous,
        status_to=to,
    )
    webhooks.emit(
        WebhookEventType.CAMPAIGN_STATUS_CHANGED,
        client=locked.client_id,
        payload={**payloads.campaign(locked), "status_from": previous, "status_to": to},
    )
    return locked


# --- Duplicating -------------------------------------------------------------------------------------


def _copy_name(campaign: Campaign) -> str:
    base = f"Copy of {campaign.name}"[:190]
    taken = set(
        Campaign.objects.filter(client_id=campaign.client_id, name__startswith=base).values_list(
            "name", flat=True
        )
    )
    if base not in taken:
        return base
    number = 2
    while f"{base} ({number})" in taken:
        number += 1
    return f"{base} ({number})"


@transaction.atomic
def duplicate_campaign(*, campaign: Campaign, by) -> Campaign:
    """A new draft "Copy of …" of `campaign` with the same settings and conditions (and no mail
    date or tracked number: those belong to the original's mailing). Locks the original so its
    conditions are copied as one consistent set. Records a `campaign_created` event that names
    the original."""
    source = _locked(campaign)
    copy = Campaign(
        client=source.client,
        status=CampaignStatus.DRAFT,
        created_by=by,
        **{
            field: getattr(source, field)
            for field in EDITABLE_FIELDS - NOT_COPIED - {"name", "audience", "template"}
        },
        audience_id=source.audience_id,
        template_id=source.template_id,
        name=_copy_name(source),
    )
    copy.full_clean()
    copy.save()
    CampaignCondition.objects.bulk_create(
        [
            CampaignCondition(
                campaign=copy,
                condition_number=condition.condition_number,
                **{field: getattr(condition, field) for field in CONDITION_FIELDS - {"form"}},
                # A form belongs to one campaign; the copy's form trigger needs its own form.
                form_id=(
                    condition.form_id
                    if condition.form_id and condition.form.campaign_id is None
                    else None
                ),
            )
            for condition in source.conditions.select_related("form").order_by("condition_number")
        ]
    )
    Event.objects.record(
        EventType.CAMPAIGN_CREATED,
        campaign=copy,
        source=EventSource.ADMIN,
        by=_by_id(by),
        duplicated_from=str(source.pk),
    )
    webhooks.emit(
        WebhookEventType.CAMPAIGN_CREATED,
        client=copy.client_id,
        payload={**payloads.campaign(copy), "duplicated_from": str(source.pk)},
    )
    return copy


def erase_recipient_data(*, recipient_id) -> int:
    """The campaigns domain's part of a recipient's erasure. Their funnel events stay (type,
    time, source, campaign: the counts are built from them), but the values in `event_data`
    that identify them or carry what they wrote (a phone, an email, a name, a reply's body:
    mike.core.redaction.PERSONAL_KEYS) are blanked: the one change an event gets after it is
    written. Their form submissions keep their form, time and links, without the answers, the
    address and the browser. Idempotent; how many rows were changed."""
    changed = 0
    for event in Event.objects.filter(recipient_id=recipient_id).exclude(event_data={}):
        data = redaction.blanked(event.event_data)
        if data != event.event_data:
            Event.objects.filter(pk=event.pk).update(event_data=data)
            changed += 1
    changed += (
        AceFormSubmission.objects.filter(recipient_id=recipient_id)
        .exclude(submission_data={}, ip_address__isnull=True, user_agent="")
        .update(submission_data={}, ip_address=None, user_agent="")
    )
    return changed
