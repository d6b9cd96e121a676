"""Writes of the CRM domain: integrations (created from a preset, edited, their secret rotated) and
inbound events stored raw as they arrive. Processing an event (matching it and meeting a
condition) spans domains and lives in the reward pipeline, mike.rewards.crm_events."""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mike.core import redaction
from mike.core.bulk import update_in_batches
from mike.core.errors import DomainError

from .models import Contact, CrmEvent, CrmIntegration, CrmProvider, generate_webhook_secret
from .presets import MAPPING_FIELDS, MATCH_FIELDS, clean_path, preset_for
from .selectors import event_id_in, event_name_in

MAX_EVENT_NAME = 100


class IntegrationRefused(DomainError):
    """The integration cannot be saved as asked; `errors` maps field names to messages."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__(" ".join(errors.values()))


def _clean_field_mappings(raw: dict) -> tuple[dict, dict]:
    errors, cleaned = {}, {}
    for key, value in (raw or {}).items():
        if key not in MAPPING_FIELDS:
            errors[key] = f"Mike reads no field called {key!r}."
            continue
        path = clean_path(str(value or ""))
        if path:
            cleaned[key] = path
    if not cleaned.get("event_name"):
        errors["event_name"] = "Say where the event's name is, as event or properties.type."
    if not any(cleaned.get(name) for name in MATCH_FIELDS):
        errors["phone"] = "Map at least one of phone, email or redemption code to find recipients."
    return cleaned, errors


def _clean_event_mappings(raw: dict) -> tuple[dict, dict]:
    cleaned, errors = {}, {}
    for crm_name, mike_name in (raw or {}).items():
        crm_name, mike_name = str(crm_name).strip(), str(mike_name or "").strip()
        if not crm_name and not mike_name:
            continue
        if not crm_name or not mike_name:
            errors["event_mappings"] = "Each line needs both names: the CRM's = the condition's."
        elif len(crm_name) > MAX_EVENT_NAME or len(mike_name) > MAX_EVENT_NAME:
            errors["event_mappings"] = f"Event names are at most {MAX_EVENT_NAME} characters."
        else:
            cleaned[crm_name] = mike_name
    return cleaned, errors


def _validate(*, client, campaign, crm_provider, field_mappings, event_mappings):
    fields, errors = _clean_field_mappings(field_mappings)
    events, event_errors = _clean_event_mappings(event_mappings)
    errors.update(event_errors)
    if crm_provider not in CrmProvider.values:
        errors["crm_provider"] = "Choose one of the CRMs listed."
    if campaign is not None and campaign.client_id != client.pk:
        errors["campaign"] = "Choose one of the client's own campaigns."
    if errors:
        raise IntegrationRefused(errors)
    return fields, events


def _full_clean(integration: CrmIntegration) -> None:
    try:
        integration.full_clean()
    except ValidationError as error:
        raise IntegrationRefused(
            {field: " ".join(messages) for field, messages in error.message_dict.items()}
        ) from error


def create_integration(
    *,
    client,
    crm_provider: str,
    name: str = "",
    campaign=None,
    field_mappings: dict | None = None,
    event_mappings: dict | None = None,
    is_active: bool = True,
) -> CrmIntegration:
    """A new integration of `client`, its field mappings the provider's preset unless given, with
    a fresh webhook token and secret. Raises IntegrationRefused (per field)."""
    if field_mappings is None:
        field_mappings = dict(preset_for(crm_provider).field_mappings)
    fields, events = _validate(
        client=client,
        campaign=campaign,
        crm_provider=crm_provider,
        field_mappings=field_mappings,
        event_mappings=event_mappings or {},
    )
    integration = CrmIntegration(
        client=client,
        crm_provider=crm_provider,
        name=name.strip(),
        campaign=campaign,
        field_mappings=fields,
        event_mappings=events,
        is_active=is_active,
    )
    _full_clean(integration)
    with transaction.atomic():
        integration.save()
    return integration


def update_integration(
    *,
    integration: CrmIntegration,
    name: str,
    campaign,
    field_mappings: dict,
    event_mappings: dict,
    is_active: bool,
) -> CrmIntegration:
    """Change what an integration reads and where it looks; its URL and secret stay. Events
    already processed keep their outcome (reprocess them to apply the new mappings). Raises
    IntegrationRefused (per field)."""
    fields, events = _validate(
        client=integration.client,
        campaign=campaign,
        crm_provider=integration.crm_provider,
        field_mappings=field_mappings,
        event_mappings=event_mappings,
    )
    with transaction.atomic():
        locked = CrmIntegration.objects.select_for_update().get(pk=integration.pk)
        locked.name = name.strip()
        locked.campaign = campaign
        locked.field_mappings = fields
        locked.event_mappings = events
        locked.is_active = is_active
        _full_clean(locked)
        locked.save()
    return locked


def rotate_webhook_secret(*, integration: CrmIntegration) -> CrmIntegration:
    """Give the integration a new secret. The one it replaces is still accepted for
    CRM_WEBHOOK_SECRET_GRACE_HOURS, while the CRM is updated; a second rotation in that time
    retires the first secret at once (only one previous secret is kept)."""
    with transaction.atomic():
        locked = CrmIntegration.objects.select_for_update().get(pk=integration.pk)
        locked.previous_webhook_secret = locked.webhook_secret
        locked.webhook_secret = generate_webhook_secret()
        locked.secret_rotated_at = timezone.now()
        locked.save(
            update_fields=[
                "previous_webhook_secret",
                "webhook_secret",
                "secret_rotated_at",
                "updated_at",
            ]
        )
    return locked


def accepted_secrets(integration: CrmIntegration, now=None) -> list[str]:
    """The secrets a request to the integration may be signed with: the current one, and the
    previous one while its grace period lasts."""
    now = now or timezone.now()
    found = [integration.webhook_secret]
    grace = timedelta(hours=settings.CRM_WEBHOOK_SECRET_GRACE_HOURS)
    if (
        integration.previous_webhook_secret
        and integration.secret_rotated_at
        and now - integration.secret_rotated_at < grace
    ):
        found.append(integration.previous_webhook_secret)
    return found


def grace_ends(integration: CrmIntegration, now=None):
    """When the previous secret stops being accepted, or None when it no longer is."""
    if len(accepted_secrets(integration, now)) < 2:
        return None
    return integration.secret_rotated_at + timedelta(hours=settings.CRM_WEBHOOK_SECRET_GRACE_HOURS)


def _fallback_event_id(payload, signed_at: int) -> str:
    """A dedup key for an event whose CRM sends no id: its body with the signature's timestamp,
    so the same signed request replayed within the tolerance is a duplicate too."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{signed_at}.{body}".encode()).hexdigest()
    return f"sha256:{digest[:48]}"


def record_event(
    *, integration: CrmIntegration, payload: dict, signed_at: int
) -> tuple[CrmEvent, bool]:
    """Store one inbound event raw, before anything is made of it. Returns (event, created):
    an event whose id the integration already has is a redelivery, and (event, False) gives the
    first one back with nothing written. Safe against the same event arriving twice at once:
    the unique (integration, external_id) constraint lets one insert win and the other finds it.

    The caller queues its processing after commit (mike.rewards.crm_events); until that runs
    the event is `received`, and the sweep picks it up should the task be lost.
    """
    external_id = event_id_in(integration, payload) or _fallback_event_id(payload, signed_at)
    with transaction.atomic():
        event, created = CrmEvent.objects.get_or_create(
            integration=integration,
            external_id=external_id,
            defaults={
                "event_type": event_name_in(integration, payload),
                "raw_payload": payload,
                "campaign_id": integration.campaign_id,
            },
        )
        if created:
            CrmIntegration.objects.filter(pk=integration.pk).update(last_event_at=timezone.now())
    return event, created


def mark_events_for_reprocessing(event_ids) -> list:
    """Put events back to `received` (outcome cleared), to be processed again with the
    integration's current mappings. Returns the ids reset; the caller queues them after commit.
    Processing is idempotent, so an event whose condition was met meets nothing twice."""
    with transaction.atomic():
        ids = list(
            CrmEvent.objects.select_for_update()
            .filter(pk__in=list(event_ids))
            .values_list("pk", flat=True)
        )
        CrmEvent.objects.filter(pk__in=ids).update(
            processed=False,
            processed_at=None,
            matched=False,
            recipient=None,
            condition_triggered=None,
            error_message="",
            updated_at=timezone.now(),
        )
    return ids


# --- Privacy -------------------------------------------------------------------------------------

ERASED = "Erased"


def erase_crm_data(*, recipient_id, client_id=None, contact_ids=(), values=()) -> int:
    """The CRM domain's part of a recipient's erasure: the raw payloads of the CRM events about
    them (their outcome and condition stay), with their errors' quotes of `values` (the person's
    phone, email, full name: mike.core.redaction.person_values); the raw payloads of the
    client's unmatched events that quote their phone or email; and the personal fields of the
    contacts `contact_ids` (their opt-out flags and counts stay). Idempotent; how many rows were
    changed."""
    changed = (
        CrmEvent.objects.filter(recipient_id=recipient_id)
        .exclude(raw_payload={})
        .update(raw_payload={})
    )
    if values:
        for event in CrmEvent.objects.filter(recipient_id=recipient_id).exclude(error_message=""):
            message = redaction.without_values(event.error_message, values)
            if message != event.error_message:
                CrmEvent.objects.filter(pk=event.pk).update(error_message=message)
                changed += 1
    if client_id is not None:
        # Events nobody could match keep what the CRM sent until retention; the person's own
        # are found by the phone or email they quote.
        addresses = [value for value in values if "@" in value or value.startswith("+")]
        for value in addresses:
            changed += (
                CrmEvent.objects.filter(integration__client_id=client_id, recipient__isnull=True)
                .filter(raw_payload__icontains=value)
                .update(raw_payload={})
            )
    for contact_id in {contact_id for contact_id in contact_ids if contact_id is not None}:
        changed += (
            Contact.objects.filter(pk=contact_id)
            .exclude(first_name=ERASED, last_name="", email="", phone="", mobile_phone="")
            .update(
                first_name=ERASED,
                last_name="",
                email="",
                phone="",
                mobile_phone="",
                company="",
                job_title="",
                address="",
                address2="",
                city="",
                state="",
                zip="",
                custom_fields={},
                notes="",
                updated_at=timezone.now(),
            )
        )
    return changed


def purge_crm_payloads(*, before, batch_size: int) -> int:
    """Blank the raw payloads of CRM events received before `before` and processed already (one
    still waiting needs its payload), in batches; the events and their outcomes stay. How many."""
    old = CrmEvent.objects.filter(created_at__lt=before, processed=True).exclude(raw_payload={})
    return update_in_batches(old, batch_size=batch_size, raw_payload={})
