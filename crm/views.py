"""The inbound CRM webhook: `POST /hooks/crm/<webhook_token>/`.

A CRM (or a Zapier step, or a relay) posts one JSON event, or a JSON array of up to
CRM_WEBHOOK_MAX_EVENTS of them, signed with the integration's secret:

    X-Mike-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>

(mike.core.signing). In order, every refusal answered as JSON `{"error": ..., "message": ...}`:
an unknown or inactive token 404; over CRM_WEBHOOK_RATE for the integration 429 with
Retry-After; a body over CRM_WEBHOOK_MAX_BYTES 400; a missing, malformed, stale (more than five
minutes from Mike's clock, either way) or wrong signature 401; a body that is not a JSON object
or array of objects 400. Nothing is stored on any refusal.

An accepted event is stored raw in the request (CrmEvent) and answered 200 `accepted`; its
processing is queued after commit (mike.rewards.crm_events). An event whose id the integration
already has (a CRM retrying a delivery it thinks failed) is answered 200 `duplicate` and stores
nothing new.
"""

import json
import logging

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from mike.core import signing
from mike.core.ratelimit import reserve
from mike.rewards.crm_events import queue_processing

from . import services
from .models import CrmIntegration

logger = logging.getLogger(__name__)


def _refuse(status: int, error: str, message: str, **headers) -> JsonResponse:
    response = JsonResponse({"error": error, "message": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _read_body(request) -> bytes | None:
    """The raw body, or None when it is over the limit (read no further than one byte past it)."""
    limit = settings.CRM_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def _refuse_constant(name):
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb cannot store them.
    raise ValueError(f"{name} is not a JSON number")


def _has_nul(node) -> bool:
    """Whether a NUL character hides in any key or string: PostgreSQL's jsonb cannot store one."""
    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _events_in(body: bytes) -> list[dict] | str:
    """The events of a body, or the reason it is refused."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError):
        return "The body is not JSON: send one event as a JSON object, or an array of them."
    except RecursionError:
        return "The body is nested too deeply to read."
    if _has_nul(data):
        return "The body holds a NUL character (\\u0000), which Mike cannot store: remove it."
    events = data if isinstance(data, list) else [data]
    if not events:
        return "The array is empty: send at least one event."
    if len(events) > settings.CRM_WEBHOOK_MAX_EVENTS:
        return f"Send at most {settings.CRM_WEBHOOK_MAX_EVENTS} events in one request."
    if not all(isinstance(event, dict) for event in events):
        return "Each event must be a JSON object."
    return events


@csrf_exempt
def crm_webhook(request, webhook_token):
    if request.method != "POST":
        return _refuse(405, "method_not_allowed", "POST the event as JSON.", Allow="POST")
    integration = (
        CrmIntegration.objects.filter(webhook_token=webhook_token, is_active=True)
        .select_related("client")
        .first()
    )
    if integration is None:
        return _refuse(404, "not_found", "No active integration has this webhook URL.")

    reservation = reserve(
        group="crm-webhook", key=str(integration.pk), rate=settings.CRM_WEBHOOK_RATE
    )
    if reservation.exceeded:
        return _refuse(
            429,
            "rate_limited",
            f"Over {reservation.rate.limit} requests in {reservation.rate.seconds} seconds for "
            "this integration: slow down and retry.",
            Retry_After=str(reservation.rate.seconds),
        )

    body = _read_body(request)
    if body is None:
        kilobytes = settings.CRM_WEBHOOK_MAX_BYTES // 1024
        return _refuse(400, "too_large", f"The body is over {kilobytes} KB.")

    try:
        signed_at = signing.verify(
            header=request.headers.get(signing.SIGNATURE_HEADER, ""),
            body=body,
            secrets=services.accepted_secrets(integration),
            tolerance=settings.CRM_WEBHOOK_TOLERANCE_SECONDS,
        )
    except signing.SignatureError as refusal:
        logger.warning("Refused a CRM webhook for %s: %s", integration.pk, refusal)
        return _refuse(401, "bad_signature", str(refusal))

    events = _events_in(body)
    if isinstance(events, str):
        return _refuse(400, "bad_body", events)

    answers = []
    with transaction.atomic():
        for payload in events:
            event, created = services.record_event(
                integration=integration, payload=payload, signed_at=signed_at
            )
            if created:
                queue_processing(event.pk)
            answers.append(
                {
                    "id": str(event.pk),
                    "external_id": event.external_id,
                    "status": "accepted" if created else "duplicate",
                }
            )
    status = "accepted" if any(a["status"] == "accepted" for a in answers) else "duplicate"
    return JsonResponse({"status": status, "events": answers})
