"""Asking a recipient to opt in by SMS (again, once their opt-in is stale), and applying Twilio's
status callbacks of our texts."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Event, EventSource, EventType
from giftcards.models import RecipientGiftCard, RewardStatus
from mike.core import texts
from mike.core.sms import (
    MessageStatus,
    SmsError,
    SmsProvider,
    backend_name,
    find_sent,
    is_carrier_opt_out,
    provider_status,
    sandbox_sms,
    send_sms,
)

from .. import sms_replies
from ..models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsDirection,
    SmsOptInLog,
    SmsOptInStatus,
    SmsStatus,
)
from .erasure import is_suppressed
from .inbound import lock_number, opt_out, opt_out_refused_number

# An opt-in request in one of these states did not reach the phone; sending again is allowed.
UNSENT_STATUSES = (SmsStatus.FAILED, SmsStatus.UNDELIVERED)

# The provider's message statuses (mike.core.sms), as the opt-in log records them.
OPT_IN_LOG_STATUS = {
    MessageStatus.ACCEPTED: SmsStatus.QUEUED,
    MessageStatus.SENT: SmsStatus.SENT,
    MessageStatus.DELIVERED: SmsStatus.DELIVERED,
    MessageStatus.UNDELIVERED: SmsStatus.UNDELIVERED,
    MessageStatus.FAILED: SmsStatus.FAILED,
}
# How far along each logged status is; a status callback only ever moves a row forward.
STATUS_RANK = {ours: theirs.rank for theirs, ours in OPT_IN_LOG_STATUS.items()}


SUPPRESSED_REASON = "The number opted out before, as a recipient since erased."

# --- Sending the opt-in text ---------------------------------------------------------------------


def may_text(recipient: Recipient, *, force: bool = False, on_call: bool = False) -> bool:
    """Whether the opt-in question may be texted to the recipient: approved (or redeemed), with
    a phone, neither opted in nor out already, and not refused for good by Twilio (that one only
    when staff resend it: `force`). `on_call`: an agent asks while the recipient is on the phone
    and agrees to it, so a recipient still awaiting approval may be asked too (never a rejected
    one)."""
    refused = recipient.sms_opt_in_status == SmsOptInStatus.FAILED and not force
    awaiting = on_call and recipient.approval_status == ApprovalStatus.PENDING
    return (
        (recipient.is_approved or awaiting)
        and recipient.sms_opt_in_status not in (SmsOptInStatus.OPTED_IN, SmsOptInStatus.OPTED_OUT)
        and not refused
        and bool(recipient.phone)
    )


def choose_email_delivery(*, recipient: Recipient, by, call_session=None) -> bool:
    """Send the recipient's cards by email from now on, though they have a phone
    (`reward_by_email`: no SMS consent is needed then), with an UPDATED audit row naming who.
    The recipient must have an email address (ValueError otherwise). False, writing nothing,
    when it was chosen already."""
    if not recipient.email:
        raise ValueError("The recipient has no email address.")
    with transaction.atomic():
        changed = Recipient.objects.filter(pk=recipient.pk, reward_by_email=False).update(
            reward_by_email=True, updated_at=timezone.now()
        )
        if changed:
            RecipientAuditLog.objects.create(
                recipient=recipient,
                action=RecipientAuditAction.UPDATED,
                performed_by=by,
                call_session=call_session,
                metadata={"reward_by_email": True, "email": recipient.email},
            )
    recipient.reward_by_email = True
    return bool(changed)


def opt_in_message(recipient: Recipient, *, on_call: bool = False) -> str:
    """The opt-in question for the recipient: the campaign's text, else the client's, else Mike's
    (mike.core.texts.opt_in_template), with `{value}` and `{brand}` those of the first reward still
    waiting for its card (empty when none is). Asked `on_call` (by an agent) before any reward is
    earned, the question is Mike's consent text, which does not say one was
    (DEFAULT_CONSENT_TEXT)."""
    campaign = recipient.campaign
    template = texts.opt_in_template(
        campaign.sms_opt_in_message if campaign else "",
        recipient.audience.client.sms_opt_in_template,
    )
    # Read from the gift card domain's models, never its services: the reward the YES will claim,
    # in the order the claim takes them.
    waiting = (
        RecipientGiftCard.objects.filter(
            recipient=recipient,
            status__in=(
                RewardStatus.PENDING,
                RewardStatus.AWAITING_STOCK,
                RewardStatus.PURCHASE_PENDING,
            ),
            gift_card__isnull=True,
        )
        .select_related("brand")
        .order_by("condition__condition_number", "created_at")
        .first()
    )
    if on_call and waiting is None:
        # Asked before anything is earned: a template that speaks of the reward would not be true.
        template = texts.DEFAULT_CONSENT_TEXT
    values = sms_replies.recipient_variables(recipient)
    values["value"] = texts.money(waiting.card_value) if waiting else ""
    values["brand"] = waiting.brand.brand_name if waiting else ""
    return texts.render(template, values, custom=recipient.custom_fields)


def _provider(name: str) -> str:
    return SmsProvider.of(name)


def request_opt_in(
    *, recipient: Recipient, force: bool = False, reask: bool = False, call_session_id=None
) -> SmsOptInLog | None:
    """Text the recipient the opt-in question and log it; None when nothing was sent.

    Idempotent: skips a recipient who may not be texted (`may_text`) and, unless `force`,
    one whose opt-in already went out and did not fail. With `reask` (the opt-in expired and is
    asked again), only an opt-in text sent after the recipient's last reply counts as already
    sent, so the new question goes out once however often the task runs. Never texts an
    opted-out recipient, even with `force`. A failed send is logged (`failed`) and re-raised as
    SmsError, whose `retryable` tells the task whether to try again; one Twilio refused for good
    also moves the recipient to `failed` (audited), which nothing but a resend (`force`) texts.
    When Twilio refused because the number opted out at the carrier (error 21610), the number is
    also opted out (`opt_out_refused_number`), so no retry or resend texts it until it sends
    START.

    At most once, in three steps, as a card's delivery is sent (mike.rewards.delivery):

    1. under the recipient's lock, the attempt is taken: its log row is written `queued` with no
       message SID and committed, so a second worker running the same task (or a resend, or the
       sweep) finds it taken for DELIVERY_LEASE_SECONDS and sends nothing;
    2. the text is sent with no lock held;
    3. the outcome is recorded on that row under the lock again.

    A row still `queued` without a SID once its lease has passed, or whose send ended without an
    answer (a timeout), is an attempt whose outcome is unknown: its worker died, or Twilio's
    answer never came, after Twilio may have taken the text. The next run (the task's retry, or
    the sweep, which queues every approved recipient still `not_sent`) asks Twilio's message list
    for that text first (`find_sent`) and records the one it finds instead of texting again.

    `call_session_id`: an agent sent it from the call console during that call (`may_text`'s
    `on_call`); the log rows name the call.
    """
    taken = _take_attempt(
        recipient=recipient, force=force, reask=reask, call_session_id=call_session_id
    )
    if taken is None:
        return None
    attempt, unknown, already_sent = taken
    sent, error, found = None, None, False
    try:
        if attempt.provider_used == SmsProvider.SANDBOX:
            # Test data is never texted: the question is recorded as a sandbox message (the API
            # shows it), and the answer comes from simulate-reply.
            sent = sandbox_sms(attempt.phone, attempt.message_text)
        else:
            if unknown:
                sent = find_sent(attempt.phone, attempt.message_text, since=attempt.created_at)
                found = sent is not None
            if sent is None:
                callback = settings.SITE_URL.rstrip("/") + reverse("twilio-sms-status")
                sent = send_sms(attempt.phone, attempt.message_text, status_callback=callback)
    except SmsError as exc:
        error = exc
    log = _record_attempt(
        attempt, sent=sent, error=error, already_sent=already_sent, reask=reask, found=found
    )
    if error is not None:
        if is_carrier_opt_out(error.code):
            # After the commit above, in a transaction of its own: opting out locks every
            # recipient at the number in primary-key order, which must not start from a lock
            # already held on one of them.
            opt_out_refused_number(recipient=log.recipient, refused="opt-in", log=log)
        raise error
    return log


# Why an attempt's row may be left `queued` with no SID: its outcome is not known.
OUTCOME_UNKNOWN_PREFIX = "Outcome unknown"


def _take_attempt(*, recipient, force, reask, call_session_id):
    """Step 1 of request_opt_in: (the attempt's row, whether its outcome is unknown, whether an
    opt-in had reached the phone before), or None when nothing is to be sent."""
    on_call = call_session_id is not None
    with transaction.atomic():
        locked = Recipient.objects.select_for_update().get(pk=recipient.pk)
        if not may_text(locked, force=force, on_call=on_call):
            return None
        if is_suppressed(client_id=locked.audience.client_id, phone=locked.phone):
            # An erased recipient of this client had opted this number out: it stays out, as a
            # STOP would have it, until the number texts START or YES.
            opt_out(locked, details={"reason": SUPPRESSED_REASON})
            return None
        outbound = SmsOptInLog.objects.filter(recipient=locked, direction=SmsDirection.OUTBOUND)
        reached = outbound.exclude(message_sid="").exclude(status__in=UNSENT_STATUSES)
        already_sent = reached.exists()
        asked = already_sent
        if reask and locked.sms_opt_in_response_at is not None:
            # The question that led to the expired opt-in came before its YES; only a text after
            # the latest reply is the new question.
            asked = reached.filter(created_at__gt=locked.sms_opt_in_response_at).exists()
        if asked and not force:
            return None
        pending = (
            outbound.filter(message_sid="", status=SmsStatus.QUEUED).order_by("-created_at").first()
        )
        if pending is not None:
            lease = timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
            unknown = pending.error_message.startswith(OUTCOME_UNKNOWN_PREFIX)
            if not unknown and pending.created_at > timezone.now() - lease:
                return None  # another worker is sending it
            # Settled as the same text to the same phone, whatever has changed since.
            return pending, True, already_sent
        attempt = SmsOptInLog.objects.create(
            recipient=locked,
            campaign=locked.campaign,
            call_session_id=call_session_id,
            phone=locked.phone,
            direction=SmsDirection.OUTBOUND,
            message_text=opt_in_message(locked, on_call=on_call),
            status=SmsStatus.QUEUED,
            provider_used=SmsProvider.SANDBOX if locked.is_test else _provider(backend_name()),
        )
    return attempt, False, already_sent


def _record_attempt(attempt, *, sent, error, already_sent, reask, found) -> SmsOptInLog:
    """Step 3 of request_opt_in: the attempt's row says what became of it, and a text that left
    moves the recipient to `pending` (unless a reply meanwhile opted them in or out)."""
    with transaction.atomic():
        locked = Recipient.objects.select_for_update().get(pk=attempt.recipient_id)
        attempt.recipient = locked
        if error is not None:
            detail = f"{error}{f' (code {error.code})' if error.code else ''}"
            if error.outcome_unknown:
                # Left `queued` with no SID: the next run asks Twilio before texting again.
                attempt.error_message = f"{OUTCOME_UNKNOWN_PREFIX}: {detail}"
            else:
                attempt.status = SmsStatus.FAILED
                attempt.error_message = (
                    f"{detail}{'; temporary, to be retried' if error.retryable else ''}"
                )
                if not error.retryable and not is_carrier_opt_out(error.code):
                    # Refused for good: no retry and no sweep sends it again; the admin shows it.
                    _mark_text_refused(locked, error)
            attempt.save(update_fields=["status", "error_message", "updated_at"])
            return attempt
        now = timezone.now()
        attempt.message_sid = sent.sid
        attempt.status = OPT_IN_LOG_STATUS.get(provider_status(sent.status), SmsStatus.SENT)
        attempt.provider_used = _provider(sent.provider)
        attempt.error_message = ""
        attempt.save(
            update_fields=["message_sid", "status", "provider_used", "error_message", "updated_at"]
        )
        if locked.sms_opt_in_status not in (SmsOptInStatus.OPTED_IN, SmsOptInStatus.OPTED_OUT):
            locked.sms_opt_in_status = SmsOptInStatus.PENDING
        locked.sms_opt_in_sent_at = now
        locked.save(update_fields=["sms_opt_in_status", "sms_opt_in_sent_at", "updated_at"])
        RecipientAuditLog.objects.create(
            recipient=locked,
            action=RecipientAuditAction.SMS_SENT,
            call_session_id=attempt.call_session_id,
            metadata={
                "kind": "opt_in",
                "message_sid": sent.sid,
                "resend": already_sent,
                "reask": reask,
                **({"found_at_provider": True} if found else {}),
            },
        )
        Event.objects.record(
            EventType.SMS_SENT,
            recipient=locked,
            source=EventSource.SMS,
            kind="opt_in",
            message_sid=sent.sid,
            reask=reask,
        )
    return attempt


def _mark_text_refused(recipient: Recipient, error: SmsError) -> None:
    previous = recipient.sms_opt_in_status
    recipient.sms_opt_in_status = SmsOptInStatus.FAILED
    recipient.save(update_fields=["sms_opt_in_status", "updated_at"])
    RecipientAuditLog.objects.create(
        recipient=recipient,
        action=RecipientAuditAction.UPDATED,
        metadata={
            "reason": "opt_in_text_refused",
            "previous_status": previous,
            "status": SmsOptInStatus.FAILED,
            "error": str(error),
            "error_code": error.code,
        },
    )


# --- Opt-in recency (TCPA) ------------------------------------------------------------------------


def reask_expired_opt_in(*, recipient: Recipient, now: datetime | None = None) -> bool:
    """Ask an approved recipient whose opt-in is stale (`Recipient.opt_in_is_current`) to opt in
    again: their status goes back to `pending`, with an UPDATED audit row whose metadata says the
    opt-in expired; the caller queues the opt-in text after commit (`mike.rewards.opt_in
    .queue_opt_in(reask=True)`, which logs it and audits it as any opt-in text). Their waiting rewards stay as they are, to be claimed
    when they reply YES; claimed or delivered cards are not touched. No event is written for the
    status change (as for START, which also moves a recipient back to `pending`); the text writes
    its `sms_sent` event.

    Returns True when this call moved the recipient back to asking. Idempotent and safe to run
    concurrently: it locks the recipient row and checks again under the lock, so of two claims
    that found the same stale opt-in only the first asks; a recipient already being asked again,
    opted in recently, opted out, or who cannot be texted, is left alone (False)."""
    with transaction.atomic():
        locked = Recipient.objects.select_for_update().get(pk=recipient.pk)
        if locked.sms_opt_in_status != SmsOptInStatus.OPTED_IN or locked.opt_in_is_current(now):
            return False
        if not locked.is_approved or not locked.phone:
            # No text could go out: left opted in, the claim still refuses them (it checks the
            # age), where `pending` would strand them waiting for a question never sent.
            return False
        previous = locked.sms_opt_in_status
        locked.sms_opt_in_status = SmsOptInStatus.PENDING
        locked.save(update_fields=["sms_opt_in_status", "updated_at"])
        RecipientAuditLog.objects.create(
            recipient=locked,
            action=RecipientAuditAction.UPDATED,
            metadata={
                "reason": "opt_in_expired",
                "previous_status": previous,
                "status": SmsOptInStatus.PENDING,
                "opted_in_at": locked.sms_opt_in_response_at.isoformat(),
                "max_age_days": settings.OPT_IN_MAX_AGE_DAYS,
            },
        )
    recipient.sms_opt_in_status = locked.sms_opt_in_status
    return True


# --- Status callbacks ----------------------------------------------------------------------------


def apply_opt_in_status(*, message_sid: str, status: str, error_code: str = "") -> bool:
    """Apply Twilio's status callback to the opt-in text with that SID; False when no opt-in text
    has it (it is then a gift card delivery's, see `mike.rewards.inbound.apply_sms_status`).

    The log row moves forward only (queued < sent < delivered; failed and undelivered are
    final), so a late or repeated callback changes nothing. A text that failed because the number
    opted out at the carrier (error 21610) opts the number out, as a STOP would.

    Lock order, as everywhere: the recipients (only when the number is opted out: every
    recipient at it, primary-key order), then the log row.
    """
    if not message_sid:
        return False
    texts = SmsOptInLog.objects.filter(message_sid=message_sid, direction=SmsDirection.OUTBOUND)
    found = texts.only("pk", "recipient_id", "phone").first()
    if found is None:
        return False
    new_status = OPT_IN_LOG_STATUS.get(provider_status(status))
    carrier_opt_out = new_status in UNSENT_STATUSES and is_carrier_opt_out(error_code)
    with transaction.atomic():
        if carrier_opt_out:
            lock_number(found.phone, including=found.recipient_id)
        log = texts.select_for_update().select_related("recipient").get(pk=found.pk)
        if new_status is None or STATUS_RANK[new_status] <= STATUS_RANK.get(log.status, 0):
            return True
        log.status = new_status
        if error_code:
            log.error_message = f"Twilio error {error_code}"
        log.save(update_fields=["status", "error_message", "updated_at"])
        if carrier_opt_out:
            opt_out_refused_number(
                recipient=log.recipient,
                refused="opt-in",
                phone=log.phone,
                message_sid=message_sid,
                error_code=error_code,
                log=log,
            )
    return True
