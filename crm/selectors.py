"""Reads of inbound CRM events: what an event says (its id, its name, who it is about) through the
integration's field mappings, and the recipient it is about."""

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q

from campaigns.models import CampaignCondition, TriggerType
from mike.core.phones import normalize_phone
from recipients.codes import normalize_code
from recipients.models import Recipient

from .models import OUTCOME_FILTERS, CrmEvent, CrmIntegration
from .presets import MATCH_FIELDS, read_path


def event_id_in(integration: CrmIntegration, payload) -> str:
    return read_path(payload, integration.field_mappings.get("event_id", ""))[:200]


def event_name_in(integration: CrmIntegration, payload) -> str:
    return read_path(payload, integration.field_mappings.get("event_name", ""))[:100]


def mapped_event_name(integration: CrmIntegration, event_name: str) -> str:
    """The name conditions know the CRM's `event_name` by: the integration's `event_mappings`
    entry for it (exact, else ignoring case), or the name itself."""
    name = (event_name or "").strip()
    mappings = integration.event_mappings or {}
    if name in mappings:
        return str(mappings[name]).strip()
    folded = name.casefold()
    for crm_name, mike_name in mappings.items():
        if str(crm_name).strip().casefold() == folded:
            return str(mike_name).strip()
    return name


@dataclass(frozen=True)
class Identity:
    """Who an event is about, as the payload says it (normalised), field by field."""

    redemption_code: str = ""
    phone: str = ""
    email: str = ""

    def __bool__(self):
        return bool(self.redemption_code or self.phone or self.email)

    def describe(self) -> str:
        parts = [
            f"{label} {value}"
            for label, value in (
                ("code", self.redemption_code),
                ("phone", self.phone),
                ("email", self.email),
            )
            if value
        ]
        return ", ".join(parts)


def identity_in(integration: CrmIntegration, payload) -> Identity:
    mappings = integration.field_mappings or {}
    raw = {name: read_path(payload, mappings.get(name, "")) for name in MATCH_FIELDS}
    return Identity(
        redemption_code=normalize_code(raw["redemption_code"]),
        phone=normalize_phone(raw["phone"]),
        email=raw["email"].strip(),
    )


def candidate_recipients(integration: CrmIntegration):
    """The recipients an integration's events may be about: its client's, of its campaign when it
    has one."""
    queryset = Recipient.objects.filter(audience__client_id=integration.client_id)
    if integration.campaign_id:
        queryset = queryset.filter(campaign_id=integration.campaign_id)
    return queryset


def match_recipient(
    integration: CrmIntegration, identity: Identity, event_name: str = ""
) -> tuple[Recipient | None, str]:
    """(recipient, the field that matched it) for `identity`, or (None, "").

    Fields are tried in MATCH_FIELDS order: the code (unique), then the phone (E.164), then the
    email (ignoring case). When a phone or email belongs to several recipients (one per campaign),
    one whose campaign has an active condition for `event_name` comes first, then the newest.
    """
    candidates = candidate_recipients(integration)
    has_condition = Exists(
        CampaignCondition.objects.filter(
            campaign_id=OuterRef("campaign_id"),
            is_active=True,
            trigger_type=TriggerType.CRM_WEBHOOK,
            crm_event_name=event_name,
        )
    )
    lookups = (
        ("redemption_code", Q(redemption_code=identity.redemption_code)),
        ("phone", Q(phone=identity.phone)),
        ("email", Q(email__iexact=identity.email)),
    )
    for name, lookup in lookups:
        if not getattr(identity, name):
            continue
        found = (
            candidates.filter(lookup)
            .annotate(has_condition=has_condition)
            .order_by("-has_condition", "-created_at")
            .first()
        )
        if found is not None:
            return found, name
    return None, ""


def events_of(queryset, *, outcome: str | None = None):
    """CRM events of `queryset` (already scoped) with what their lists show."""
    if outcome:
        queryset = queryset.filter(OUTCOME_FILTERS[outcome])
    return queryset.select_related("integration", "recipient", "campaign")


def integration_event_counts(integration: CrmIntegration) -> dict[str, int]:
    """How many of the integration's events stand at each outcome."""
    return CrmEvent.objects.filter(integration=integration).aggregate(
        **{outcome: Count("pk", filter=condition) for outcome, condition in OUTCOME_FILTERS.items()}
    )
