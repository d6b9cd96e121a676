"""Inbound CRM events, from stored to done: matched to a recipient through the integration's field
mappings, their name mapped to a condition's `crm_event_name`, and that condition met through the
pipeline (`mark_condition_met_by_crm_event`).

An event waits in one state only, `received` (processed=False), and has two owners moving it on:
the task queued after the request that stored it committed, and the sweep (`sweep_crm_events`,
beat) for an event whose task was lost (a worker died, the broker was down). Both take the row
under a lock and skip it once processed, so an event is processed once however often it is
queued. Meeting the condition is itself idempotent per recipient and condition (the recipient is
locked and CallConditionMet is unique), so two events about the same person, processed at the
same moment, meet it once.

Lock order: the event row, then the recipient's (mark_condition_met).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from calls import selectors as call_selectors
from calls.services import ConditionOrderError
from crm import selectors
from crm.models import CrmEvent
from crm.services import mark_events_for_reprocessing

from .conditions import MEETABLE_CAMPAIGN_STATUSES, mark_condition_met_by_crm_event

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


def _apply(event: CrmEvent) -> None:
    """Match the event and meet its condition, setting the outcome fields on `event`."""
    integration = event.integration
    payload = event.raw_payload
    event.event_type = selectors.event_name_in(integration, payload) or event.event_type
    condition_name = selectors.mapped_event_name(integration, event.event_type)
    identity = selectors.identity_in(integration, payload)
    if not identity:
        event.error_message = (
            "The event carries no phone, email or redemption code where the integration's field "
            "mappings look."
        )
        return
    recipient, matched_by = selectors.match_recipient(integration, identity, condition_name)
    if recipient is None:
        where = (
            f"the campaign {integration.campaign.name}"
            if integration.campaign_id
            else integration.client.name
        )
        event.error_message = f"No recipient of {where} has {identity.describe()}."
        return
    event.recipient = recipient
    event.campaign_id = recipient.campaign_id
    event.matched = True
    if not event.event_type:
        event.error_message = "The event carries no event name where the field mappings look."
        return
    campaign = recipient.campaign
    if (
        campaign is not None
        and campaign.status not in MEETABLE_CAMPAIGN_STATUSES
        and call_selectors.crm_event_condition(recipient, condition_name) is not None
    ):
        # As the API and the console: a campaign's conditions are met only while its mail is out.
        event.error_message = (
            f"{campaign.name} is {campaign.get_status_display().lower()}: its conditions are met "
            "only while it is in production or mailed. Reprocess the event once it is."
        )
        return
    met = mark_condition_met_by_crm_event(
        recipient=recipient, event_name=condition_name, crm_event=event
    )
    if met is not None:
        event.condition_triggered = met.condition.condition_number
        logger.info(
            "CRM event %s (%s, matched by %s) met condition %s of recipient %s",
            event.pk,
            condition_name,
            matched_by,
            met.condition.condition_number,
            recipient.pk,
        )


def process_crm_event(event_id) -> str | None:
    """Process one stored event, once: returns its outcome (CrmEventOutcome), or None for an
    event that no longer exists. An event already processed is left as it is (a task queued
    twice, or the sweep and the task at once). A refusal (a condition whose turn has not come, an
    inactive one) or an unexpected error is recorded on the event, which then shows as failed
    until it is reprocessed; a database error leaves it received, for the sweep to try again."""
    with transaction.atomic():
        event = (
            CrmEvent.objects.select_for_update(of=("self",))
            .select_related("integration__campaign", "integration__client")
            .filter(pk=event_id)
            .first()
        )
        if event is None:
            return None
        if event.processed:
            return event.outcome
        event.matched, event.recipient, event.condition_triggered = False, None, None
        event.error_message = ""
        try:
            with transaction.atomic():
                _apply(event)
        except ConditionOrderError as refusal:
            event.error_message = str(refusal)
        except ValueError as refusal:
            event.error_message = str(refusal)
        except DatabaseError:
            raise
        except Exception as error:
            logger.exception("CRM event %s failed", event.pk)
            event.error_message = f"Processing failed: {type(error).__name__}: {error}"[:2000]
        event.processed = True
        event.processed_at = timezone.now()
        event.save(
            update_fields=[
                "event_type",
                "recipient",
                "campaign",
                "matched",
                "condition_triggered",
                "error_message",
                "processed",
                "processed_at",
                "updated_at",
            ]
        )
        return event.outcome


def queue_processing(event_id) -> None:
    """Queue the event's processing once the current transaction commits. Robust: a broker that
    cannot be reached is logged, not raised, so the CRM still hears that its event is stored
    (the sweep queues it again later)."""
    from .tasks import process_crm_event as task

    transaction.on_commit(lambda: task.delay(str(event_id)), robust=True)


def reprocess_crm_events(event_ids) -> int:
    """Process events again with their integration's current mappings (after a mapping was
    fixed, a recipient imported, an earlier condition met). Returns how many were queued."""
    with transaction.atomic():
        ids = mark_events_for_reprocessing(event_ids)
        for pk in ids:
            queue_processing(pk)
    return len(ids)


def events_to_sweep(now=None) -> list:
    """Events received (or put back for reprocessing) long enough ago that their task should have
    run, oldest first."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.CRM_EVENT_STUCK_MINUTES)
    return list(
        CrmEvent.objects.filter(processed=False, updated_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )


def sweep_crm_events(now=None) -> int:
    """Queue the processing of every event left received (its task lost); returns how many."""
    from .tasks import process_crm_event as task

    ids = events_to_sweep(now)
    for pk in ids:
        task.delay(str(pk))
    return len(ids)
