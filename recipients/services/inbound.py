"""What recipients text back: YES opts in, the carrier stop words opt out, START/UNSTOP come
back, HELP gets help. The words themselves and the answers are in `recipients.sms_replies`.

A STOP can also reach Mike the other way round: Twilio refuses to text a number whose owner
replied STOP to our sender (error 21610), at send time or in a status callback.
`opt_out_refused_number` opts that number out exactly as a STOP text does.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Event, EventSource, EventType
from mike import webhooks
from mike.core.bulk import insert_or_skip
from mike.core.compiled import CompiledQuery
from mike.core.phones import normalize_phone
from mike.core.sms import CARRIER_OPT_OUT_ERROR, SmsProvider
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType

from .. import sms_replies
from ..models import (
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsDirection,
    SmsOptInLog,
    SmsOptInStatus,
    SmsStatus,
)
from ..sms_replies import Keyword
from .erasure import lift_suppression

# Recipients an inbound text can be about: they were asked (or have answered) already.
RESPONSIVE_STATUSES = (
    SmsOptInStatus.PENDING,
    SmsOptInStatus.OPTED_IN,
    SmsOptInStatus.OPTED_OUT,
    SmsOptInStatus.INVALID_RESPONSE,
)


def _recipients_of(phone: str, raw: str, *, including=None, client_ids=None) -> list[Recipient]:
    """Every recipient texted at this number (and the recipient whose pk is `including`, asked
    or not), locked, most recently approved first; with `client_ids`, only those clients'.

    Test recipients (test data, never really texted) are never among those at a number: a real
    text from a phone an integrator used for test data does not move them, and their simulated
    replies (`handle_inbound_sms(recipient_id=…)`) move only them."""
    numbers = {n for n in (phone, raw) if n}
    if not numbers and including is None:
        return []
    if numbers == {phone} and client_ids is None and including is None:
        locked = AT_NUMBER.all(phone)  # the webhook's usual case, compiled once
    else:
        locked = list(_at_numbers(numbers, including=including, client_ids=client_ids))
    never = datetime.min.replace(tzinfo=UTC)
    return sorted(locked, key=lambda r: (r.approved_at or never, r.created_at), reverse=True)


def _at_numbers(numbers, *, including=None, client_ids=None):
    matches = Q(phone__in=numbers, sms_opt_in_status__in=RESPONSIVE_STATUSES, is_test=False)
    if client_ids is not None:
        matches &= Q(audience__client_id__in=client_ids)
    if including is not None:
        matches |= Q(pk=including)
    # Several rows are locked in primary-key order, so two texts from the same number queue
    # behind each other instead of deadlocking.
    return (
        Recipient.objects.select_for_update(of=("self",))
        .filter(matches)
        .select_related("audience__client", "campaign")
        .order_by("pk")
    )


# The recipients at one number, as _at_numbers reads them, compiled once per process (mike.core
# .compiled): Django would otherwise build this join of three wide tables on every inbound text.
AT_NUMBER = CompiledQuery(lambda phone: _at_numbers({phone}))


def lock_number(phone: str, *, including=None) -> list[Recipient]:
    """Lock every recipient texted at `phone` (and the recipient whose pk is `including`), in
    primary-key order, for the rest of the caller's transaction."""
    return _recipients_of(normalize_phone(phone), phone, including=including)


def fixed_reply(keyword: Keyword, recipient: Recipient | None) -> str | None:
    """The answer to a text that does not depend on the recipient's rewards, or None when it does
    (a YES or START: what it says depends on the rewards that exist, see
    mike.rewards.inbound)."""
    if keyword == Keyword.OPT_OUT:
        # Twilio answers STOP itself; a second text would be one too many.
        return ""
    if recipient is None:
        return sms_replies.UNKNOWN_NUMBER
    if keyword == Keyword.HELP:
        return sms_replies.render(sms_replies.HELP, client_name=recipient.audience.client.name)
    if keyword in (Keyword.OPT_IN, Keyword.START):
        return None
    return sms_replies.HINT


def _set_opt_in_status(
    recipient, status, *, body, message_sid, action, event, details=None, by=None
) -> None:
    """Move a locked recipient to `status`, with the audit row and event given (None: none).

    `body` is the recipient's reply, kept as their latest answer; None (a carrier refusal is no
    answer of theirs) leaves the latest answer as it was. `details` go on the audit row and the
    event."""
    recipient.sms_opt_in_status = status
    fields = ["sms_opt_in_status", "updated_at"]
    if body is not None:
        recipient.sms_opt_in_response = body
        recipient.sms_opt_in_response_at = timezone.now()
        fields += ["sms_opt_in_response", "sms_opt_in_response_at"]
    recipient.save(update_fields=fields)
    details = details or {}
    if action is not None:
        RecipientAuditLog.objects.create(
            recipient=recipient,
            action=action,
            performed_by=by,
            metadata={"message_sid": message_sid, "body": body or "", **details},
        )
    if event is not None:
        Event.objects.record(
            event, recipient=recipient, source=EventSource.SMS, message_sid=message_sid, **details
        )
    if event == EventType.OPTED_IN:
        webhooks.emit(
            WebhookEventType.SMS_OPT_IN,
            client=recipient.audience.client_id,
            payload=lambda: {
                **payloads.recipient(recipient),
                "opted_in_at": timezone.now().isoformat(),
                "reply": body or "",
            },
            is_test=recipient.is_test,
        )


def _opt_out(recipient: Recipient, *, body, message_sid, details=None) -> bool:
    """Opt one locked recipient out: status `opted_out`, an OPTED_OUT audit row and event.
    The one path every opt-out takes (a STOP text, a carrier refusal). False when the recipient
    was opted out already (nothing is written)."""
    if recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT:
        return False
    _set_opt_in_status(
        recipient,
        SmsOptInStatus.OPTED_OUT,
        body=body,
        message_sid=message_sid,
        action=RecipientAuditAction.OPTED_OUT,
        event=EventType.OPTED_OUT,
        details=details,
    )
    return True


def opt_out(recipient: Recipient, *, details: dict) -> bool:
    """Opt one locked recipient out for a reason of Mike's (`details` name it), not a text of
    theirs: their latest reply is left as it was. False when they were opted out already."""
    return _opt_out(recipient, body=None, message_sid="", details=details)


def opt_out_on_request(*, recipient: Recipient, by, reason: str, call_session=None) -> bool:
    """Stop texting the person because they asked someone, not by text (an agent's "do not
    call" disposition): the recipient and every other recipient of the same client at that
    phone go to `opted_out`, each with an OPTED_OUT audit row naming who and why, as a STOP
    would; their latest replies are left as they were. False when none changed. Locks the rows
    in primary-key order."""
    details = {"reason": reason}
    if call_session is not None:
        details["call_session"] = str(call_session.pk)
    same_person = Q(pk=recipient.pk)
    if recipient.phone:
        same_person |= Q(phone=recipient.phone, audience__client_id=recipient.audience.client_id)
    changed = False
    with transaction.atomic():
        for locked in (
            Recipient.objects.select_for_update(of=("self",)).filter(same_person).order_by("pk")
        ):
            if locked.sms_opt_in_status == SmsOptInStatus.OPTED_OUT:
                continue
            _set_opt_in_status(
                locked,
                SmsOptInStatus.OPTED_OUT,
                body=None,
                message_sid="",
                action=RecipientAuditAction.OPTED_OUT,
                event=EventType.OPTED_OUT,
                details=details,
                by=by,
            )
            changed = True
    recipient.sms_opt_in_status = SmsOptInStatus.OPTED_OUT
    return changed


@dataclass
class InboundSms:
    """What an inbound text did: its keyword, the recipient the conversation is logged on
    (`primary`: the most recently approved at the number; None for a number Mike never texted),
    whether it was a repeat of a message already handled, the recipients who opted in (their
    rewards are the reward pipeline's to claim) and those who came back from an opt-out (their
    refused card texts are to be resent). The reply is the pipeline's to write (`log_reply`)."""

    keyword: Keyword
    phone: str
    primary: Recipient | None = None
    duplicate: bool = False
    opted_in: list = field(default_factory=list)
    came_back: list = field(default_factory=list)


def _still_blocked(keyword: Keyword, body: str, recipient: Recipient) -> bool:
    """An opt-in word other than YES (SURE, OK…) from a recipient who sent STOP: the carrier
    still blocks the number, so it does not opt them back in (recipients.sms_replies)."""
    return (
        keyword == Keyword.OPT_IN
        and recipient.sms_opt_in_status == SmsOptInStatus.OPTED_OUT
        and not sms_replies.lifts_carrier_block(body)
    )


def _apply_keyword(
    keyword: Keyword, recipients: list[Recipient], *, body, message_sid, outcome: InboundSms
) -> None:
    """Change the state of every recipient texted at the number, noting on `outcome` who opted
    in and who came back from an opt-out.

    Carriers (and Twilio's opt-out handling) apply STOP and START to the phone number as a whole,
    so Mike's state follows the number: every recipient at it moves together."""
    for recipient in recipients:
        status = recipient.sms_opt_in_status
        approved = recipient.is_approved
        if _still_blocked(keyword, body, recipient):
            continue  # still blocked by the carrier: only START, UNSTOP or YES bring it back
        if status == SmsOptInStatus.OPTED_OUT and keyword in (Keyword.OPT_IN, Keyword.START):
            outcome.came_back.append(recipient)
        if keyword == Keyword.OPT_OUT and status != SmsOptInStatus.OPTED_OUT:
            _opt_out(recipient, body=body, message_sid=message_sid)
        elif (keyword == Keyword.OPT_IN or (keyword == Keyword.START and approved)) and (
            # A YES on a stale opt-in is a fresh one: it renews the opt-in time.
            status != SmsOptInStatus.OPTED_IN or not recipient.opt_in_is_current()
        ):
            _set_opt_in_status(
                recipient,
                SmsOptInStatus.OPTED_IN,
                body=body,
                message_sid=message_sid,
                action=RecipientAuditAction.OPTED_IN,
                event=EventType.OPTED_IN,
            )
            if approved:
                outcome.opted_in.append(recipient)
        elif keyword == Keyword.START and status == SmsOptInStatus.OPTED_OUT:
            _set_opt_in_status(
                recipient,
                SmsOptInStatus.PENDING,
                body=body,
                message_sid=message_sid,
                action=RecipientAuditAction.UPDATED,
                event=None,
            )
        elif keyword == Keyword.OTHER and status == SmsOptInStatus.PENDING:
            _set_opt_in_status(
                recipient,
                SmsOptInStatus.INVALID_RESPONSE,
                body=body,
                message_sid=message_sid,
                action=None,
                event=None,
            )


def handle_inbound_sms(
    *,
    from_number: str,
    body: str,
    message_sid: str,
    to_number: str = "",
    client_ids=None,
    recipient_id=None,
) -> InboundSms:
    """Act on a text a recipient sent (see InboundSms for what the caller learns).

    The opt-in words opt in, the carrier stop words opt out, START/UNSTOP come back, HELP/INFO get
    help (recipients.sms_replies). The text is an inbound `SmsOptInLog` row on the most recently
    approved recipient at the number; the reply, once the caller knows it, is another
    (`log_reply`). Idempotent by `message_sid`: Twilio's retry of the same message is reported as
    a duplicate and writes nothing. A number Mike never texted writes nothing (a log row needs a
    recipient). Locks every recipient at the number (primary-key order). With `client_ids` (the
    text came through a client's or agency's own Twilio account), only those clients' recipients
    are read or changed.

    `recipient_id`: a reply simulated for that test recipient (the sandbox's simulate-reply):
    only that recipient is read or changed, whoever else shares the number, and the log rows are
    sandbox messages. ValueError for a live recipient.
    """
    keyword = sms_replies.classify(body)
    phone = normalize_phone(from_number)
    provider = SmsProvider.TWILIO
    with transaction.atomic():
        # Locking the recipients first also serialises two deliveries of the same message: the
        # second one finds the first one's log row below.
        if recipient_id is not None:
            recipients = _recipients_of("", "", including=recipient_id)
            if not all(r.is_test for r in recipients):
                raise ValueError("Only a test recipient's reply can be simulated.")
            provider = SmsProvider.SANDBOX
        else:
            recipients = _recipients_of(phone, from_number, client_ids=client_ids)
        if not recipients:
            return InboundSms(keyword, phone or from_number)
        if all(_still_blocked(keyword, body, r) for r in recipients):
            # "SURE" from a number that sent STOP: nothing changes (the carrier still blocks
            # it), and it is answered as any other reply, with the hint to reply YES.
            keyword = Keyword.OTHER
        primary = recipients[0]
        outcome = InboundSms(keyword, phone or from_number, primary=primary)
        received = SmsOptInLog(
            recipient=primary,
            campaign=primary.campaign,
            phone=phone or from_number,
            message_sid=message_sid,
            direction=SmsDirection.INBOUND,
            message_text=body,
            status=SmsStatus.RECEIVED,
            provider_used=provider,
        )
        # One statement: the unique (message SID, direction) refuses Twilio's retry of a message
        # already logged, which is then reported as a duplicate and changes nothing.
        if not insert_or_skip(received):
            seen = SmsOptInLog.objects.get(message_sid=message_sid, direction=SmsDirection.INBOUND)
            outcome.primary, outcome.duplicate = seen.recipient, True
            return outcome
        _apply_keyword(keyword, recipients, body=body, message_sid=message_sid, outcome=outcome)
        if keyword in (Keyword.OPT_IN, Keyword.START) and recipient_id is None:
            # The number asked to be texted again: an erased recipient's opt-out no longer binds
            # the clients it wrote to (recipients.services.erasure).
            lift_suppression(
                phone=phone or from_number,
                client_ids={r.audience.client_id for r in recipients},
            )
    return outcome


def log_reply(*, inbound: InboundSms, text: str) -> None:
    """Log the reply to an inbound text as an outbound `sent` row (it goes back in the webhook's
    TwiML, so it is sent as soon as Twilio reads the answer)."""
    if not text or inbound.primary is None or inbound.duplicate:
        return
    SmsOptInLog.objects.create(
        recipient=inbound.primary,
        campaign=inbound.primary.campaign,
        phone=inbound.phone,
        direction=SmsDirection.OUTBOUND,
        message_text=text,
        status=SmsStatus.SENT,
        # A test recipient's reply is recorded, never sent (the sandbox).
        provider_used=SmsProvider.SANDBOX if inbound.primary.is_test else SmsProvider.TWILIO,
    )


# --- Opt-outs the carrier reports ----------------------------------------------------------------


def opt_out_refused_number(
    *,
    recipient: Recipient,
    refused: str,
    phone: str = "",
    message_sid: str = "",
    error_code: str = CARRIER_OPT_OUT_ERROR,
    log: SmsOptInLog | None = None,
) -> list[Recipient]:
    """Opt out a number Twilio refused to text because its owner opted out at the carrier (error
    21610), as if a STOP had come in from it; returns the recipients this call opted out.

    `recipient` is the one whose text was refused (`refused` names it: "opt-in", "gift card"),
    `phone` the number texted (default: the recipient's). Like a STOP, it moves every recipient
    texted at the number, and the recipient themself even if never asked, to `opted_out`, each
    with an OPTED_OUT audit row and event that name the carrier refusal; their latest reply is
    left as it was. From then on nothing texts them until the number sends START.

    The refusal is noted in the SMS opt-in log: on `log`, the refused opt-in text's own row, or
    on a new outbound `failed` row (a gift card text has no row there). Recipients already opted
    out stay as they are; the note is written in any case, as each refusal happened. Locks the
    recipient rows (primary-key order) before writing the log.
    """
    phone = phone or recipient.phone
    details = {
        "reason": "carrier_opt_out",
        "error_code": str(error_code),
        "refused": refused,
    }
    which = f"this {refused} text" + (f" ({message_sid})" if message_sid else "")
    note = (
        f"Twilio error {error_code}: the number opted out at the carrier (it replied STOP), so "
        f"Twilio refused {which}. Marked opted out; no texts until it replies START."
    )
    with transaction.atomic():
        recipients = _recipients_of(normalize_phone(phone), phone, including=recipient.pk)
        opted_out = [
            r
            for r in recipients
            if _opt_out(r, body=None, message_sid=message_sid, details=details)
        ]
        if log is not None:
            SmsOptInLog.objects.filter(pk=log.pk).update(
                error_message=note, updated_at=timezone.now()
            )
            log.error_message = note
        else:
            SmsOptInLog.objects.create(
                recipient=recipient,
                campaign=recipient.campaign,
                phone=phone,
                direction=SmsDirection.OUTBOUND,
                message_text=f"({refused} text refused by the carrier)",
                status=SmsStatus.FAILED,
                error_message=note,
                provider_used=SmsProvider.TWILIO,
            )
    return opted_out
