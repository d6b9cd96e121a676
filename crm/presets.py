"""Where each CRM puts the fields Mike reads from an inbound event, and reading them.

An integration's `field_mappings` maps Mike's names (`MAPPING_FIELDS`) to paths in the CRM's JSON:
dotted for nested objects (`properties.email`, `contact.phone`), a number for a list's item
(`contacts.0.email`), and `|` between alternatives tried in order (`phone|mobile_phone`). A preset
is a starting point chosen when the integration is created; every path stays editable.

The presets follow what each tool sends from its own "send a webhook" step:
- HubSpot: a workflow webhook or a webhook subscription event (`eventId`, `subscriptionType`,
  the contact's `properties`, whose values may come as `{"value": ...}` objects).
- Salesforce: a Flow HTTP callout (or a relay of a Platform Event) with the record under `contact`,
  Salesforce's field names (`Email`, `Phone`, `MobilePhone`, custom `…__c`).
- GoHighLevel: a workflow webhook action (the contact's fields at the top, custom ones under
  `customData`) or a marketplace webhook (`type`, `webhookId`).
- Zapier: the "Webhooks by Zapier" POST step, with the flat field names the Zap sets.
"""

from dataclasses import dataclass, field

from .models import CrmProvider

# Mike's names for what it reads from an event, in the order a form shows them.
MAPPING_FIELDS = {
    "event_id": "Event id",
    "event_name": "Event name",
    "phone": "Phone",
    "email": "Email",
    "redemption_code": "Redemption code",
}
# The fields that identify a recipient, tried in this order (a code is unique, a phone or an
# email may be shared by recipients of several campaigns).
MATCH_FIELDS = ("redemption_code", "phone", "email")


@dataclass(frozen=True)
class Preset:
    provider: str
    label: str
    field_mappings: dict[str, str]
    # An example payload in the shape the preset reads, shown on the integration's page.
    example: dict = field(default_factory=dict)


PRESETS = {
    CrmProvider.HUBSPOT: Preset(
        provider=CrmProvider.HUBSPOT,
        label="HubSpot",
        field_mappings={
            "event_id": "eventId",
            "event_name": "subscriptionType",
            "phone": "properties.phone|properties.mobilephone",
            "email": "properties.email",
            "redemption_code": "properties.mike_redemption_code",
        },
        example={
            "eventId": 4213,
            "subscriptionType": "appointment_booked",
            "objectId": 1246965,
            "properties": {
                "email": {"value": "ada@example.com"},
                "phone": {"value": "(555) 201-0001"},
                "mike_redemption_code": {"value": "7KQ4-M2XD-9P"},
            },
        },
    ),
    CrmProvider.SALESFORCE: Preset(
        provider=CrmProvider.SALESFORCE,
        label="Salesforce",
        field_mappings={
            "event_id": "eventId",
            "event_name": "eventType",
            "phone": "contact.Phone|contact.MobilePhone",
            "email": "contact.Email",
            "redemption_code": "contact.Mike_Redemption_Code__c",
        },
        example={
            "eventId": "a0B5e00000XyZ1AEAV",
            "eventType": "appointment_booked",
            "contact": {
                "Id": "0035e00000AbCdEAAV",
                "Email": "ada@example.com",
                "Phone": "+1 555 201 0001",
                "Mike_Redemption_Code__c": "7KQ4M2XD9P",
            },
        },
    ),
    CrmProvider.GOHIGHLEVEL: Preset(
        provider=CrmProvider.GOHIGHLEVEL,
        label="GoHighLevel",
        field_mappings={
            "event_id": "webhookId|id",
            "event_name": "type|workflow.name",
            "phone": "phone|contact.phone",
            "email": "email|contact.email",
            "redemption_code": "customData.redemption_code",
        },
        example={
            "webhookId": "b5c2d1e0-6f1a-4c9e-9a0d-2f3e4a5b6c7d",
            "type": "appointment_booked",
            "contact_id": "nmFmQEsNgz6AVpgLVUJ0",
            "email": "ada@example.com",
            "phone": "555.201.0001",
            "customData": {"redemption_code": "7KQ4-M2XD-9P"},
        },
    ),
    CrmProvider.ZAPIER: Preset(
        provider=CrmProvider.ZAPIER,
        label="Zapier (Webhooks by Zapier)",
        field_mappings={
            "event_id": "id",
            "event_name": "event",
            "phone": "phone",
            "email": "email",
            "redemption_code": "redemption_code",
        },
        example={
            "id": "zap-run-01HF3",
            "event": "appointment_booked",
            "email": "ada@example.com",
            "phone": "5552010001",
            "redemption_code": "7KQ4M2XD9P",
        },
    ),
}

# Any other CRM: the Zapier shape, which a custom sender can follow most easily.
GENERIC = Preset(
    provider=CrmProvider.CUSTOM,
    label="Other",
    field_mappings=dict(PRESETS[CrmProvider.ZAPIER].field_mappings),
    example=dict(PRESETS[CrmProvider.ZAPIER].example),
)


def preset_for(provider: str) -> Preset:
    return PRESETS.get(provider, GENERIC)


def _step(node, segment: str):
    if isinstance(node, dict):
        return node.get(segment)
    if isinstance(node, list) and segment.isdigit():
        index = int(segment)
        return node[index] if index < len(node) else None
    return None


def _text(value) -> str:
    # HubSpot's older payloads wrap each property: {"value": "...", "timestamp": ...}.
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def read_path(payload, path: str) -> str:
    """The text at `path` in `payload` (alternatives split by `|`, the first that is not empty),
    or "" when no alternative leads to a value."""
    for alternative in (path or "").split("|"):
        alternative = alternative.strip()
        if not alternative:
            continue
        node = payload
        for segment in alternative.split("."):
            node = _step(node, segment.strip())
            if node is None:
                break
        text = _text(node)
        if text:
            return text
    return ""


def clean_path(path: str) -> str:
    """A path as stored: alternatives and segments stripped of spaces, empty ones dropped."""
    alternatives = []
    for alternative in (path or "").split("|"):
        segments = [segment.strip() for segment in alternative.split(".")]
        if all(segments):
            alternatives.append(".".join(segments))
    return "|".join(alternatives)
