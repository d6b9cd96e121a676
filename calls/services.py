"""Call services: inbound calls and their status, and campaign conditions being met.

Lock order, to keep concurrent webhooks and sweeps from deadlocking: a `CallSession` row (status
callbacks) before a `Recipient` row (conditions met), never the other way round. Marking a
condition locks the recipient row, so every condition met by one recipient is decided one at a
time; the unique constraints on `CallConditionMet` and `RecipientGiftCard` (recipient + condition)
are the backstop that makes a double reward impossible even if that lock were forgotten.
"""

import logging
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import CampaignCondition, Event, EventSource, EventType, TriggerType
from giftcards import services as giftcard_services
from mike.core.errors import DomainError
from mike.core.phones import normalize_phone
from recipients.models import Recipient, RecipientAuditAction, RecipientAuditLog

from .models import (
    FINAL_CALL_STATUSES,
    CallConditionMet,
    CallDisposition,
    CallSession,
    CallStatus,
    ConditionMetSource,
    DispositionType,
    MatchStatus,
    TrackedPhoneNumber,
)

logger = logging.getLogger(__name__)


class UnknownTrackedNumber(DomainError):
    """A call reached a number Mike does not track."""

    def __init__(self, number: str):
        self.number = number
        super().__init__(f"{number or 'The dialled number'} is not a tracked number.")


class ConditionOrderError(DomainError, ValidationError):
    """A condition was marked before the one it follows. Raised like a `ValidationError` so forms
    and the admin can show `.messages`; `str()` is the plain sentence."""

    def __init__(self, condition: CampaignCondition, previous: CampaignCondition):
        self.condition = condition
        self.previous = previous
        self.plain_message = (
            f"Condition {condition.condition_number} can only be met after "
            f"condition {previous.condition_number}."
        )
        super().__init__(self.plain_message, code="condition_order")

    def __str__(self):
        return self.plain_message


# --- Phone numbers -------------------------------------------------------------------------------


# --- Inbound calls -------------------------------------------------------------------------------


def handle_incoming_call(*, call_sid: str, from_number: str, to_number: str) -> CallSession:
    """The `CallSession` of Twilio call `call_sid`, created on the first webhook.

    Idempotent: a re-delivered webhook returns the session the first one made, and the `called` /
    `matched` events are written once, with the session. The caller is matched to a recipient of
    the campaign that owns the dialled number by E.164 phone. Raises `UnknownTrackedNumber` when the
    dialled number is not tracked (nothing is written then).
    """
    if not call_sid:
        raise ValueError("A call needs its Twilio call SID.")
    existing = CallSession.objects.filter(twilio_call_sid=call_sid).first()
    if existing is not None:
        return existing

    dialled = normalize_phone(to_number)
    tracked = (
        TrackedPhoneNumber.objects.select_related("client", "campaign")
        .filter(phone_number=dialled)
        .first()
        if dialled
        else None
    )
    if tracked is None:
        raise UnknownTrackedNumber(to_number)

    caller = normalize_phone(from_number)
    campaign = tracked.campaign
    recipient = None
    if campaign is not None and caller:
        recipient = (
            Recipient.objects.filter(campaign=campaign, phone=caller).order_by("created_at").first()
        )

    try:
        with transaction.atomic():
            session, created = CallSession.objects.get_or_create(
                twilio_call_sid=call_sid,
                defaults={
                    "client": tracked.client,
                    "campaign": campaign,
                    "recipient": recipient,
                    "tracked_number": tracked,
                    "caller_phone": caller or (from_number or "")[:20],
                    "call_status": CallStatus.RINGING,
                    "match_status": (
                        MatchStatus.MATCHED if recipient is not None else MatchStatus.UNMATCHED
                    ),
                    "forward_to_number": tracked.forward_to_number,
                    "call_started_at": timezone.now(),
                },
            )
            if created:
                Event.objects.record(
                    EventType.CALLED,
                    client=tracked.client,
                    campaign=campaign,
                    recipient=recipient,
                    source=EventSource.CALL,
                    call_sid=call_sid,
                    tracked_number=tracked.phone_number,
                )
                if recipient is not None:
                    Event.objects.record(
                        EventType.MATCHED,
                        client=tracked.client,
                        campaign=campaign,
                        recipient=recipient,
                        source=EventSource.CALL,
                        call_sid=call_sid,
                    )
    except IntegrityError:
        # A concurrent delivery of the same webhook created it between our read and our insert.
        session = CallSession.objects.get(twilio_call_sid=call_sid)
    return session


# Twilio's statuses in the order a call moves through them; every final status ranks last.
_STATUS_RANK = {CallStatus.QUEUED: 0, CallStatus.RINGING: 1, CallStatus.IN_PROGRESS: 2}
_FINAL_RANK = 3


def _status_rank(status: str) -> int:
    return _FINAL_RANK if status in FINAL_CALL_STATUSES else _STATUS_RANK[status]


def apply_call_status(
    *,
    call_sid: str,
    status: str = "",
    duration: int | None = None,
    recording_url: str = "",
    recording_sid: str = "",
    recording_duration: int | None = None,
) -> CallSession | None:
    """Apply one Twilio status or recording callback to the call's session.

    Locks the session row, so concurrent callbacks of one call apply one at a time. The status
    never moves backwards and a final status is never replaced; the duration is kept from the
    first callback that reports one; recording fields are overwritten only by non-empty values, so
    a duplicate callback changes nothing. The first time the call becomes `completed` its
    `call_completed` conditions are evaluated. Returns None for an unknown call SID.
    """
    if status and status not in CallStatus.values:
        logger.warning("Ignoring unknown call status %r for %s", status, call_sid)
        status = ""

    with transaction.atomic():
        session = (
            CallSession.objects.select_for_update(of=("self",))
            .select_related("recipient", "campaign", "client")
            .filter(twilio_call_sid=call_sid)
            .first()
        )
        if session is None:
            logger.warning("Status callback for unknown call %s", call_sid)
            return None

        now = timezone.now()
        changed: set[str] = set()
        became_completed = False
        if (
            status
            and not session.is_final
            and _status_rank(status) > _status_rank(session.call_status)
        ):
            session.call_status = status
            changed.add("call_status")
            if status == CallStatus.IN_PROGRESS and session.call_answered_at is None:
                session.call_answered_at = now
                changed.add("call_answered_at")
            if status in FINAL_CALL_STATUSES:
                became_completed = status == CallStatus.COMPLETED
                if session.call_ended_at is None:
                    session.call_ended_at = now
                    changed.add("call_ended_at")
        if duration is not None and session.call_duration_seconds is None:
            session.call_duration_seconds = max(int(duration), 0)
            changed.add("call_duration_seconds")
        if recording_url and session.recording_url != recording_url:
            session.recording_url = recording_url
            changed.add("recording_url")
        if recording_sid and session.recording_sid != recording_sid:
            session.recording_sid = recording_sid
            changed.add("recording_sid")
        if recording_duration is not None and session.recording_duration != recording_duration:
            session.recording_duration = max(int(recording_duration), 0)
            changed.add("recording_duration")
        if changed:
            session.save(update_fields=[*changed, "updated_at"])

        if became_completed:
            Event.objects.record(
                EventType.CALL_COMPLETED,
                client=session.client,
                campaign=session.campaign,
                recipient=session.recipient,
                source=EventSource.CALL,
                call_sid=call_sid,
                duration=session.call_duration_seconds,
            )
            _fire_call_completed_conditions(session)
    return session


def _fire_call_completed_conditions(session: CallSession) -> None:
    """Mark each active `call_completed` condition the finished call qualifies for."""
    recipient = session.recipient
    if recipient is None or recipient.campaign_id is None:
        return
    duration = session.call_duration_seconds
    conditions = CampaignCondition.objects.filter(
        campaign_id=recipient.campaign_id,
        is_active=True,
        trigger_type=TriggerType.CALL_COMPLETED,
    ).order_by("condition_number")
    for condition in conditions:
        minimum = condition.min_call_duration_seconds
        if minimum is not None and (duration is None or duration < minimum):
            continue
        try:
            mark_condition_met(
                recipient=recipient,
                condition=condition,
                source=ConditionMetSource.CALL_COMPLETED,
                call_session=session,
            )
        except ConditionOrderError as exc:
            logger.info("Call %s did not meet %s: %s", session.twilio_call_sid, condition, exc)


# --- Conditions ----------------------------------------------------------------------------------

_EVENT_SOURCE_OF = {
    ConditionMetSource.AGENT: EventSource.CALL,
    ConditionMetSource.DISPOSITION: EventSource.CALL,
    ConditionMetSource.CALL_COMPLETED: EventSource.CALL,
    ConditionMetSource.CRM_WEBHOOK: EventSource.EXTERNAL,
    ConditionMetSource.TIME_DELAY: EventSource.SYSTEM,
    ConditionMetSource.FORM_SUBMITTED: EventSource.FORM,
    ConditionMetSource.ADMIN: EventSource.ADMIN,
}


def _previous_condition(condition: CampaignCondition) -> CampaignCondition | None:
    """The condition that must be met before `condition`: the nearest lower-numbered active one of
    the campaign (n−1 when the ladder has no gaps and nothing was switched off)."""
    return (
        CampaignCondition.objects.filter(
            campaign_id=condition.campaign_id,
            is_active=True,
            condition_number__lt=condition.condition_number,
        )
        .order_by("-condition_number")
        .first()
    )


def _run_condition_met_hook(recipient_id) -> None:
    """Hand over to the recipients app (auto-approval, claiming)."""
    # Imported here: recipients.services reaches back into this app through giftcards.
    from recipients.services import on_condition_met

    on_condition_met(recipient_id=recipient_id)


def _mark_condition_met(
    *,
    recipient: Recipient,
    condition: CampaignCondition,
    source: str,
    call_session: CallSession | None = None,
    agent=None,
    notes: str = "",
) -> tuple[CallConditionMet, bool]:
    if not condition.is_active:
        raise ValueError(f"Condition {condition.condition_number} is not active.")
    if recipient.campaign_id is None or condition.campaign_id != recipient.campaign_id:
        raise ValueError(
            f"Condition {condition.condition_number} belongs to another campaign than the "
            "recipient's."
        )
    existing = CallConditionMet.objects.filter(recipient=recipient, condition=condition).first()
    if existing is not None:
        return existing, False

    with transaction.atomic():
        # Serialises every condition decision of this recipient: the re-check below and the
        # order check then see what a concurrent mark committed.
        Recipient.objects.select_for_update().only("pk").get(pk=recipient.pk)
        existing = CallConditionMet.objects.filter(recipient=recipient, condition=condition).first()
        if existing is not None:
            return existing, False
        previous = _previous_condition(condition)
        if (
            previous is not None
            and not CallConditionMet.objects.filter(
                recipient=recipient, condition=previous
            ).exists()
        ):
            raise ConditionOrderError(condition, previous)

        met = CallConditionMet.objects.create(
            recipient=recipient,
            campaign_id=condition.campaign_id,
            condition=condition,
            condition_number=condition.condition_number,
            call_session=call_session,
            met_by_agent=agent,
            source=source,
            met_at=timezone.now(),
            notes=notes,
        )
        giftcard_services.ensure_reward(recipient=recipient, condition=condition)
        RecipientAuditLog.objects.create(
            recipient=recipient,
            action=RecipientAuditAction.CONDITION_MET,
            performed_by=agent,
            call_session=call_session,
            metadata={
                "condition_id": str(condition.pk),
                "condition_number": condition.condition_number,
                "source": source,
            },
        )
        Event.objects.record(
            EventType.CONDITION_MET,
            campaign=condition.campaign,
            recipient=recipient,
            source=_EVENT_SOURCE_OF.get(source, EventSource.SYSTEM),
            condition_number=condition.condition_number,
            condition_id=str(condition.pk),
            met_source=source,
        )
        recipient_id = recipient.pk
        # robust: the condition and its reward are committed; a failing hook is logged, and the
        # recipients app's own sweeps pick the reward up later.
        transaction.on_commit(lambda: _run_condition_met_hook(recipient_id), robust=True)
    return met, True


def mark_condition_met(
    *,
    recipient: Recipient,
    condition: CampaignCondition,
    source: str,
    call_session: CallSession | None = None,
    agent=None,
    notes: str = "",
) -> CallConditionMet:
    """Record that `recipient` met `condition`, with its pending reward, audit row and event.

    Idempotent: a second call for the same recipient + condition returns the first row and writes
    nothing. Locks the recipient row. Raises ValueError for an inactive condition or one of another
    campaign, and ConditionOrderError when the previous condition is not met yet. After commit the
    recipients app's `on_condition_met(recipient_id=…)` runs (approval, claiming) when it exists.
    """
    met, _ = _mark_condition_met(
        recipient=recipient,
        condition=condition,
        source=source,
        call_session=call_session,
        agent=agent,
        notes=notes,
    )
    return met


def mark_condition_met_by_crm_event(
    *, recipient: Recipient, event_name: str, crm_event=None
) -> CallConditionMet | None:
    """Meet the recipient's campaign condition triggered by the CRM event `event_name`; None when
    the campaign has no active condition for that event. Same guarantees as `mark_condition_met`."""
    event_name = (event_name or "").strip()
    if not event_name or recipient.campaign_id is None:
        return None
    condition = (
        CampaignCondition.objects.filter(
            campaign_id=recipient.campaign_id,
            is_active=True,
            trigger_type=TriggerType.CRM_WEBHOOK,
            crm_event_name=event_name,
        )
        .order_by("condition_number")
        .first()
    )
    if condition is None:
        return None
    notes = f"CRM event {event_name}"
    if crm_event is not None:
        notes += f" ({crm_event.external_id or crm_event.pk})"
    return mark_condition_met(
        recipient=recipient,
        condition=condition,
        source=ConditionMetSource.CRM_WEBHOOK,
        call_session=getattr(crm_event, "call_session", None),
        notes=notes,
    )


def record_disposition(
    *,
    call_session: CallSession,
    disposition_type: str,
    agent=None,
    notes: str = "",
    follow_up_date=None,
) -> CallDisposition:
    """Record how an agent closed a call.

    "interested" on a matched call meets the lowest-numbered active `manual_agent` condition the
    recipient has not met yet. When the order forbids it (an earlier condition is still open) the
    disposition is kept and the refusal logged: the agent's record of the call is never lost.
    Raises ValueError for an unknown type or a callback request without a date.
    """
    if disposition_type not in DispositionType.values:
        raise ValueError(f"Unknown disposition {disposition_type!r}.")
    if disposition_type == DispositionType.CALLBACK_REQUESTED and follow_up_date is None:
        raise ValueError("A callback request needs a follow-up date.")
    recipient = call_session.recipient
    with transaction.atomic():
        disposition = CallDisposition.objects.create(
            call_session=call_session,
            recipient=recipient,
            agent=agent,
            disposition_type=disposition_type,
            notes=notes,
            follow_up_date=follow_up_date,
        )
        if recipient is not None:
            Recipient.objects.select_for_update().only("pk").get(pk=recipient.pk)
            Recipient.objects.filter(pk=recipient.pk).update(disposition=disposition_type)
            recipient.disposition = disposition_type
            RecipientAuditLog.objects.create(
                recipient=recipient,
                action=RecipientAuditAction.UPDATED,
                performed_by=agent,
                call_session=call_session,
                metadata={"disposition": disposition_type},
            )
        if (
            disposition_type == DispositionType.INTERESTED
            and recipient is not None
            and recipient.campaign_id is not None
        ):
            condition = (
                CampaignCondition.objects.filter(
                    campaign_id=recipient.campaign_id,
                    is_active=True,
                    trigger_type=TriggerType.MANUAL_AGENT,
                )
                .exclude(met_by__recipient=recipient)
                .order_by("condition_number")
                .first()
            )
            if condition is not None:
                try:
                    mark_condition_met(
                        recipient=recipient,
                        condition=condition,
                        source=ConditionMetSource.DISPOSITION,
                        call_session=call_session,
                        agent=agent,
                        notes=notes,
                    )
                except ConditionOrderError as exc:
                    logger.info("Disposition on %s met no condition: %s", call_session, exc)
    return disposition


def apply_time_delays(now=None) -> int:
    """Meet every active `time_delay` condition whose delay has passed since the recipient met the
    previous condition. Returns how many conditions were met. Safe to run concurrently and
    repeatedly: each mark is idempotent and locks its recipient."""
    now = now or timezone.now()
    count = 0
    conditions = (
        CampaignCondition.objects.filter(is_active=True, trigger_type=TriggerType.TIME_DELAY)
        .select_related("campaign")
        .order_by("campaign_id", "condition_number")
    )
    for condition in conditions:
        previous = _previous_condition(condition)
        if previous is None:
            # A first condition has nothing to wait after; it cannot be met by the sweep.
            continue
        cutoff = now - timedelta(hours=condition.time_delay_hours or 0)
        due = (
            CallConditionMet.objects.filter(condition=previous, met_at__lte=cutoff)
            .exclude(recipient__conditions_met__condition=condition)
            .select_related("recipient", "call_session")
            .order_by("met_at")
        )
        for previous_met in due.iterator():
            try:
                _, created = _mark_condition_met(
                    recipient=previous_met.recipient,
                    condition=condition,
                    source=ConditionMetSource.TIME_DELAY,
                    call_session=previous_met.call_session,
                )
            except (ConditionOrderError, ValueError) as exc:
                logger.warning(
                    "Time delay %s not met for %s: %s", condition, previous_met.recipient_id, exc
                )
                continue
            count += created
    return count
