"""Call services: inbound calls and their status, dispositions, and campaign conditions being met.

These write the calls domain only. What a met condition leads to (the reward row, approval, the
opt-in text, the claim) is the reward pipeline's, `mike.rewards.conditions`, which calls these
inside its own transaction and moves the recipient on after commit.

Lock order, to keep concurrent webhooks and sweeps from deadlocking: a `CallSession` row (status
callbacks) before a `Recipient` row (conditions met), never the other way round. Marking a
condition locks the recipient row, so every condition met by one recipient is decided one at a
time; the unique constraints on `CallConditionMet` and `RecipientGiftCard` (recipient + condition)
are the backstop that makes a double reward impossible even if that lock were forgotten.
"""

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import (
    MAILING_CAMPAIGN_STATUSES,
    CampaignCondition,
    Event,
    EventSource,
    EventType,
)
from mike import webhooks
from mike.core import redaction
from mike.core.bulk import update_in_batches
from mike.core.errors import DomainError
from mike.core.phones import normalize_phone
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType
from recipients.models import Recipient, RecipientAuditAction, RecipientAuditLog

from . import selectors
from .models import (
    FINAL_CALL_STATUSES,
    CallConditionMet,
    CallDisposition,
    CallSession,
    CallStatus,
    CallStep,
    ConditionMetSource,
    ConsoleStep,
    DispositionType,
    MatchStatus,
    StepName,
    StepOutcome,
    TrackedNumberStatus,
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


class CampaignNotRunning(DomainError, ValueError):
    """A condition of a campaign whose mail is not out, or that is paused or over: nothing meets
    it (a call to its number is still logged and matched, for the agent to see who called)."""

    def __init__(self, campaign):
        self.campaign = campaign
        super().__init__(
            f"The campaign is {campaign.get_status_display().lower()}: its conditions are met "
            "only while it is in production or mailed."
        )


# --- Inbound calls -------------------------------------------------------------------------------


_UNSET = object()


def handle_incoming_call(
    *, call_sid: str, from_number: str, to_number: str, tracked=_UNSET
) -> CallSession:
    """The `CallSession` of Twilio call `call_sid`, created on the first webhook.

    Idempotent: a re-delivered webhook returns the session the first one made, and the `called` /
    `matched` events are written once, with the session. The caller is matched to a recipient of
    the campaign that owns the dialled number by E.164 phone. Raises `UnknownTrackedNumber` when the
    dialled number is not tracked (nothing is written then). `tracked` is the dialled number's
    row with its client (`calls.numbers.tracked_number_for(to_number)`, or None) when the caller
    has read it already.
    """
    if not call_sid:
        raise ValueError("A call needs its Twilio call SID.")
    existing = CallSession.objects.filter(twilio_call_sid=call_sid).first()
    if existing is not None:
        return existing

    if tracked is _UNSET:
        dialled = normalize_phone(to_number)
        tracked = (
            TrackedPhoneNumber.objects.select_related("client").filter(phone_number=dialled).first()
            if dialled
            else None
        )
    if tracked is None:
        raise UnknownTrackedNumber(to_number)

    caller = normalize_phone(from_number)
    # By id: the campaign's row is not read, only written as a key.
    campaign = tracked.campaign_id
    recipient = None
    if campaign is not None and caller:
        recipient = (
            Recipient.objects.filter(campaign_id=campaign, phone=caller)
            .order_by("created_at")
            .first()
        )

    try:
        # Created outright (the look-up above found none): the unique call SID refuses a
        # concurrent delivery's second row, and the events go with the row that was written.
        with transaction.atomic():
            session = CallSession.objects.create(
                twilio_call_sid=call_sid,
                client=tracked.client,
                campaign_id=campaign,
                recipient=recipient,
                tracked_number=tracked,
                caller_phone=caller or (from_number or "")[:20],
                call_status=CallStatus.RINGING,
                match_status=(
                    MatchStatus.MATCHED if recipient is not None else MatchStatus.UNMATCHED
                ),
                forward_to_number=tracked.forward_to_number,
                call_started_at=timezone.now(),
            )
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
) -> tuple[CallSession | None, bool]:
    """Apply one Twilio status or recording callback to the call's session; returns the session
    (None for an unknown call SID) and whether this callback completed the call.

    Locks the session row, so concurrent callbacks of one call apply one at a time. The status
    never moves backwards and a final status is never replaced; the duration is kept from the
    first callback that reports one; recording fields are overwritten only by non-empty values, so
    a duplicate callback changes nothing. The first time the call becomes `completed` the
    `call_completed` event is written; the caller (mike.rewards.conditions) then meets the
    conditions it qualifies for (`selectors.call_completed_conditions`) in the same transaction.
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
            return None, False

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
            webhooks.emit(
                WebhookEventType.CALL_COMPLETED,
                client=session.client_id,
                payload=lambda: payloads.call(session),
                is_test=session.recipient.is_test if session.recipient is not None else False,
            )
    return session, became_completed


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


def record_condition_met(
    *,
    recipient: Recipient,
    condition: CampaignCondition,
    source: str,
    call_session: CallSession | None = None,
    agent=None,
    notes: str = "",
) -> tuple[CallConditionMet, bool]:
    """Record that `recipient` met `condition`: the `CallConditionMet` row, its audit row and the
    `condition_met` event; returns the row and whether this call created it.

    Idempotent: a second call for the same recipient and condition returns the first row and
    writes nothing. Locks the recipient row, so the conditions of one recipient are decided one
    at a time. Raises ValueError for an inactive condition or one of another campaign,
    CampaignNotRunning (a ValueError) for a campaign not in production or mailed (a draft, paused,
    completed or cancelled one), and ConditionOrderError when the previous condition is not met
    yet. The reward the condition
    earns is the reward pipeline's to create (`mike.rewards.conditions.mark_condition_met`).
    """
    if not condition.is_active:
        raise ValueError(f"Condition {condition.condition_number} is not active.")
    if recipient.campaign_id is None or condition.campaign_id != recipient.campaign_id:
        raise ValueError(
            f"Condition {condition.condition_number} belongs to another campaign than the "
            "recipient's."
        )
    if condition.campaign.status not in MAILING_CAMPAIGN_STATUSES:
        raise CampaignNotRunning(condition.campaign)
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
        previous = selectors.previous_condition(condition)
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
        webhooks.emit(
            WebhookEventType.CONDITION_MET,
            # The campaign's client (loaded for the event above): no query for the audience.
            client=condition.campaign.client_id,
            payload=lambda: payloads.condition_met(
                met, condition=condition, recipient_obj=recipient
            ),
            is_test=recipient.is_test,
        )
    return met, True


def record_disposition(
    *,
    call_session: CallSession,
    disposition_type: str,
    agent=None,
    notes: str = "",
    follow_up_date=None,
) -> CallDisposition:
    """Record how an agent closed a call: the disposition, kept on the recipient too, with an
    UPDATED audit row. Raises ValueError for an unknown type or a callback request without a
    date. What "interested" meets is the reward pipeline's (`mike.rewards.conditions`). Locks the
    recipient row."""
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
    return disposition


# --- The call console ----------------------------------------------------------------------------


class AttachRefused(DomainError):
    """The call cannot be attached to that recipient; `str()` says why."""


def log_step(
    call_session: CallSession, step: str, outcome: str, *, agent=None, detail: str = ""
) -> CallStep:
    """One line of the call's step log (what the console did, how it went, who)."""
    return CallStep.objects.create(
        call_session=call_session, step=step, outcome=outcome, agent=agent, detail=detail[:500]
    )


def open_call(*, call_session: CallSession, agent) -> bool:
    """An agent opens the call in the console: the first agent to open it while it is live takes
    it (`agent`), atomically, so two agents opening it at once leave one name on it. True when this agent took
    it now (an OPENED step is logged then); a call already taken, or taken by this agent, stays
    as it is."""
    if call_session.is_final and call_session.agent_id is None:
        # An old call looked at (from the calls log) is not taken by whoever opens it.
        return False
    with transaction.atomic():
        taken = CallSession.objects.filter(pk=call_session.pk, agent__isnull=True).update(
            agent=agent, updated_at=timezone.now()
        )
        if taken:
            call_session.agent = agent
            log_step(call_session, StepName.OPENED, StepOutcome.SUCCEEDED, agent=agent)
    return bool(taken)


def move_console_step(*, call_session: CallSession, step: str) -> None:
    """Keep where the console's flow stands on the call, so a reload or another tab resumes
    there. A closed call stays closed."""
    if step not in ConsoleStep.values:
        raise ValueError(f"Unknown console step {step!r}.")
    CallSession.objects.filter(pk=call_session.pk).exclude(console_step=ConsoleStep.CLOSED).update(
        console_step=step, updated_at=timezone.now()
    )
    if call_session.console_step != ConsoleStep.CLOSED:
        call_session.console_step = step


def attach_recipient(*, call_session: CallSession, recipient: Recipient, agent) -> CallSession:
    """Match the call to `recipient`, found by an agent's lookup (`manual_override`): the call
    then belongs to the recipient's campaign, with a `matched` event and an audit row. Refused
    (AttachRefused) for a recipient of another client, a closed call, or a call that already met
    a condition for someone (its rewards are that person's). Locks the call; attaching the
    recipient the call already has changes nothing. Returns the call as now stored."""
    with transaction.atomic():
        locked = CallSession.objects.select_for_update().get(pk=call_session.pk)
        if recipient.audience.client_id != locked.client_id:
            raise AttachRefused("That recipient is not one of this call's client's.")
        if locked.recipient_id == recipient.pk:
            return locked
        if locked.console_step == ConsoleStep.CLOSED:
            raise AttachRefused("This call is closed.")
        if CallConditionMet.objects.filter(call_session=locked).exists():
            raise AttachRefused(
                "This call already met a condition for its caller; it cannot change hands."
            )
        locked.recipient = recipient
        locked.campaign_id = recipient.campaign_id
        locked.match_status = MatchStatus.MANUAL_OVERRIDE
        locked.console_step = ConsoleStep.RECIPIENT
        locked.save(
            update_fields=["recipient", "campaign", "match_status", "console_step", "updated_at"]
        )
        RecipientAuditLog.objects.create(
            recipient=recipient,
            action=RecipientAuditAction.UPDATED,
            performed_by=agent,
            call_session=locked,
            metadata={"call_attached": locked.twilio_call_sid},
        )
        Event.objects.record(
            EventType.MATCHED,
            client=locked.client,
            campaign=recipient.campaign,
            recipient=recipient,
            source=EventSource.CALL,
            call_sid=locked.twilio_call_sid,
            by_agent=True,
        )
        log_step(
            locked,
            StepName.ATTACH,
            StepOutcome.SUCCEEDED,
            agent=agent,
            detail=f"Attached to {recipient.full_name or recipient.display_code}",
        )
    return locked


# --- Tracked numbers -----------------------------------------------------------------------------


class TrackedNumberUnavailable(DomainError):
    """A tracked number cannot be put on (or taken off) a campaign; `str()` says why."""

    def __init__(self, number: TrackedPhoneNumber, reason: str):
        self.number = number
        super().__init__(f"{number.phone_number} {reason}")


def assign_tracked_number(
    *, number: TrackedPhoneNumber, campaign, by, release_others: bool = False
) -> TrackedPhoneNumber:
    """Put `number` on `campaign`: calls to it are then matched to the campaign's recipients.

    The number must be the campaign's client's, not decommissioned and not live on another
    campaign; a completed or cancelled campaign takes no number. With `release_others`, the
    campaign's other numbers go back to available in the same transaction (the mail prints
    one). Locks the number rows, lowest id first. Idempotent: assigning the number the campaign
    already has changes nothing."""
    with transaction.atomic():
        ids = {number.pk}
        if release_others:
            ids |= set(
                TrackedPhoneNumber.objects.filter(campaign_id=campaign.pk).values_list(
                    "pk", flat=True
                )
            )
        locked = {
            row.pk: row
            for row in TrackedPhoneNumber.objects.select_for_update()
            .filter(pk__in=ids)
            .order_by("pk")
        }
        row = locked[number.pk]
        if row.client_id != campaign.client_id:
            raise TrackedNumberUnavailable(row, "belongs to another client.")
        if row.status == TrackedNumberStatus.DECOMMISSIONED:
            raise TrackedNumberUnavailable(row, "is decommissioned.")
        if row.campaign_id is not None and row.campaign_id != campaign.pk:
            raise TrackedNumberUnavailable(row, "is already printed on another campaign.")
        if campaign.is_closed:
            raise TrackedNumberUnavailable(
                row, f"cannot go on a {campaign.get_status_display().lower()} campaign."
            )
        for other in locked.values():
            if other.pk != row.pk:
                _release(other)
        if row.campaign_id != campaign.pk or row.status != TrackedNumberStatus.ASSIGNED:
            row.campaign = campaign
            row.status = TrackedNumberStatus.ASSIGNED
            row.assigned_at = timezone.now()
            row.save(update_fields=["campaign", "status", "assigned_at", "updated_at"])
        logger.info(
            "Tracked number %s assigned to campaign %s by user %s",
            row.pk,
            campaign.pk,
            getattr(by, "pk", None),
        )
    return row


def _release(row: TrackedPhoneNumber) -> None:
    row.campaign = None
    if row.status == TrackedNumberStatus.ASSIGNED:
        row.status = TrackedNumberStatus.AVAILABLE
    row.assigned_at = None
    row.save(update_fields=["campaign", "status", "assigned_at", "updated_at"])


def unassign_tracked_number(*, number: TrackedPhoneNumber, by) -> TrackedPhoneNumber:
    """Take `number` off its campaign, back to available. Calls to it are then unmatched.
    Locks the number. Idempotent: a number on no campaign is left as it is (a decommissioned
    one stays decommissioned)."""
    with transaction.atomic():
        row = TrackedPhoneNumber.objects.select_for_update().get(pk=number.pk)
        if row.campaign_id is not None:
            _release(row)
            logger.info("Tracked number %s released by user %s", row.pk, getattr(by, "pk", None))
    return row


# --- Privacy -------------------------------------------------------------------------------------


def erase_caller_data(*, recipient_id, values=()) -> int:
    """The calls domain's part of a recipient's erasure: their calls keep their times, outcome
    and campaign, but not the caller's number, the recording or the agent's notes; the agent's
    notes on their met conditions and dispositions are blanked, and the console steps of their
    calls that quote `values` (their phone, email, full name: mike.core.redaction.person_values)
    read "Erased" there instead. Idempotent; how many rows were changed."""
    changed = (
        CallSession.objects.filter(recipient_id=recipient_id)
        .filter(~Q(caller_phone="") | ~Q(recording_url="") | ~Q(recording_sid="") | ~Q(notes=""))
        .update(caller_phone="", recording_url="", recording_sid="", notes="")
    )
    changed += (
        CallConditionMet.objects.filter(recipient_id=recipient_id)
        .exclude(notes="")
        .update(notes="")
    )
    changed += (
        CallDisposition.objects.filter(recipient_id=recipient_id).exclude(notes="").update(notes="")
    )
    if values:
        steps = CallStep.objects.filter(call_session__recipient_id=recipient_id).exclude(detail="")
        for step in steps.only("pk", "detail"):
            detail = redaction.without_values(step.detail, values)
            if detail != step.detail:
                CallStep.objects.filter(pk=step.pk).update(detail=detail)
                changed += 1
    return changed


def purge_recording_urls(*, before, batch_size: int) -> int:
    """Forget the recordings of calls started before `before` (their URL and SID, the way to
    fetch them), in batches; the calls and their durations stay. How many."""
    old = CallSession.objects.filter(created_at__lt=before).filter(
        ~Q(recording_url="") | ~Q(recording_sid="")
    )
    return update_in_batches(old, batch_size=batch_size, recording_url="", recording_sid="")
