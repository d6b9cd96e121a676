"""Recipient services: approval, rejection and the SMS opt-in conversation.

Each service locks the recipient row(s) it changes (`SELECT … FOR UPDATE`), writes the
`RecipientAuditLog` row and the funnel `Event` in the same transaction, and schedules side effects
(the opt-in text, the gift card claim) with `transaction.on_commit`, so a rolled-back approval never
texts anybody.

Lock order: recipient rows (by primary key when there are several), then their reward rows, then
the SMS log rows. The gift card claim runs after commit in its own transaction.
"""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from campaigns.events import record_event
from campaigns.models import EventSource, EventType
from mike.core.phones import normalize_phone
from mike.core.sms import SmsError, backend_name, send_sms

from . import sms_replies
from .models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsDirection,
    SmsOptInLog,
    SmsOptInStatus,
    SmsProvider,
    SmsStatus,
)
from .sms_replies import Keyword

logger = logging.getLogger(__name__)


# Recipients an inbound text can be about: they were asked (or have answered) already.
RESPONSIVE_STATUSES = (
    SmsOptInStatus.PENDING,
    SmsOptInStatus.OPTED_IN,
    SmsOptInStatus.OPTED_OUT,
    SmsOptInStatus.INVALID_RESPONSE,
)

# An opt-in request in one of these states did not reach the phone; sending again is allowed.
UNSENT_STATUSES = (SmsStatus.FAILED, SmsStatus.UNDELIVERED)

# Twilio's message statuses, folded into ours; a status callback only ever moves a row forward.
TWILIO_STATUS = {
    "accepted": SmsStatus.QUEUED,
    "scheduled": SmsStatus.QUEUED,
    "queued": SmsStatus.QUEUED,
    "sending": SmsStatus.SENT,
    "sent": SmsStatus.SENT,
    "delivered": SmsStatus.DELIVERED,
    "read": SmsStatus.DELIVERED,
    "undelivered": SmsStatus.UNDELIVERED,
    "failed": SmsStatus.FAILED,
    "canceled": SmsStatus.FAILED,
}
STATUS_RANK = {
    SmsStatus.QUEUED: 0,
    SmsStatus.SENT: 1,
    SmsStatus.DELIVERED: 2,
    SmsStatus.UNDELIVERED: 2,
    SmsStatus.FAILED: 2,
}


class ApprovalError(Exception):
    """The recipient cannot be approved or rejected from the state they are in."""


# --- Approval ------------------------------------------------------------------------------------


def _lock(recipient: Recipient) -> Recipient:
    return Recipient.objects.select_for_update().get(pk=recipient.pk)


def _user_id(user) -> str | None:
    return str(user.pk) if user is not None else None


def _claim_after_commit(recipient_id) -> None:
    transaction.on_commit(lambda: claim_rewards(recipient_id=recipient_id), robust=True)


def claim_rewards(*, recipient_id) -> None:
    """Hand the recipient's waiting rewards to `giftcards.services.claim_pending_rewards`."""
    from giftcards.services import claim_pending_rewards

    claim_pending_rewards(recipient=Recipient.objects.get(pk=recipient_id))


def approve_recipient(*, recipient: Recipient, by=None, call_session=None) -> Recipient:
    """Approve a pending recipient: who (`by`, None for automatic approval), when, and the call.

    Idempotent: an approved (or redeemed) recipient is returned unchanged. A rejected one raises
    ApprovalError. After commit, the opt-in text is queued; a recipient who already opted in has
    their rewards claimed instead. Locks the recipient row.
    """
    with transaction.atomic():
        locked = _lock(recipient)
        if locked.approval_status in (ApprovalStatus.APPROVED, ApprovalStatus.REDEEMED):
            return locked
        if locked.approval_status == ApprovalStatus.REJECTED:
            raise ApprovalError(
                f"{locked} was rejected ({locked.rejection_reason or 'no reason given'}) "
                "and cannot be approved."
            )
        locked.approval_status = ApprovalStatus.APPROVED
        locked.approved_by = by
        locked.approved_at = timezone.now()
        locked.approved_call_session = call_session
        locked.save(
            update_fields=[
                "approval_status",
                "approved_by",
                "approved_at",
                "approved_call_session",
                "updated_at",
            ]
        )
        RecipientAuditLog.objects.create(
            recipient=locked,
            action=RecipientAuditAction.APPROVED,
            performed_by=by,
            call_session=call_session,
            metadata={"automatic": by is None},
        )
        record_event(
            EventType.APPROVED,
            recipient=locked,
            source=EventSource.ADMIN if by is not None else EventSource.SYSTEM,
            approved_by=_user_id(by),
        )
        if locked.sms_opt_in_status == SmsOptInStatus.OPTED_IN:
            _claim_after_commit(locked.pk)
        elif locked.sms_opt_in_status != SmsOptInStatus.OPTED_OUT:
            queue_opt_in(recipient=locked)
    return locked


def reject_recipient(*, recipient: Recipient, by=None, reason: str) -> Recipient:
    """Reject a pending or approved recipient with a reason (required: ValueError without one).

    Their rewards not yet claimed (`pending`, `awaiting_stock`) become `rejected`; a card already
    claimed stays with its reward. Rejecting twice is a no-op; a redeemed recipient raises
    ApprovalError. Locks the recipient row, then their reward rows.
    """
    from giftcards.models import RecipientGiftCard, RewardStatus

    reason = (reason or "").strip()
    if not reason:
        raise ValueError("A reason is required to reject a recipient.")
    with transaction.atomic():
        locked = _lock(recipient)
        if locked.approval_status == ApprovalStatus.REJECTED:
            return locked
        if locked.approval_status == ApprovalStatus.REDEEMED:
            raise ApprovalError(f"{locked} has already redeemed their reward.")
        previous = locked.approval_status
        locked.approval_status = ApprovalStatus.REJECTED
        locked.rejection_reason = reason
        locked.save(update_fields=["approval_status", "rejection_reason", "updated_at"])
        rejected_rewards = RecipientGiftCard.objects.filter(
            recipient=locked,
            status__in=[RewardStatus.PENDING, RewardStatus.AWAITING_STOCK],
        ).update(status=RewardStatus.REJECTED, updated_at=timezone.now())
        RecipientAuditLog.objects.create(
            recipient=locked,
            action=RecipientAuditAction.REJECTED,
            performed_by=by,
            metadata={
                "reason": reason,
                "previous_status": previous,
                "rewards_rejected": rejected_rewards,
            },
        )
        record_event(
            EventType.REJECTED,
            recipient=locked,
            source=EventSource.ADMIN if by is not None else EventSource.SYSTEM,
            rejected_by=_user_id(by),
            reason=reason,
        )
    return locked


def on_condition_met(recipient_id) -> None:
    """Move a recipient on after one of their conditions was met (called by calls.services).

    The client's `auto_approve_recipients` approves a pending recipient at once; an approved
    recipient who opted in has the new reward claimed; one who was never texted is texted."""
    recipient = Recipient.objects.select_related("audience__client").get(pk=recipient_id)
    if recipient.approval_status == ApprovalStatus.PENDING:
        if recipient.audience.client.auto_approve_recipients:
            approve_recipient(recipient=recipient, by=None)
    elif recipient.approval_status == ApprovalStatus.APPROVED:
        if recipient.sms_opt_in_status == SmsOptInStatus.OPTED_IN:
            _claim_after_commit(recipient.pk)
        elif recipient.sms_opt_in_status == SmsOptInStatus.NOT_SENT:
            queue_opt_in(recipient=recipient)


# --- Sending the opt-in text ---------------------------------------------------------------------


def queue_opt_in(*, recipient: Recipient, force: bool = False) -> bool:
    """Queue the opt-in text after commit; False (nothing queued) when the recipient cannot get
    one: not approved, opted in or out already, or no phone. `force` resends an opt-in already
    sent (the admin's "resend")."""
    from .tasks import send_opt_in_sms

    if not _may_text(recipient):
        return False
    recipient_id = recipient.pk
    transaction.on_commit(
        lambda: send_opt_in_sms.delay(str(recipient_id), force=force),
        # A broker outage must not turn a committed approval into an error page: the opt-in
        # stays `not_sent` and the periodic sweep queues it again.
        robust=True,
    )
    return True


def _may_text(recipient: Recipient) -> bool:
    return (
        recipient.approval_status == ApprovalStatus.APPROVED
        and recipient.sms_opt_in_status not in (SmsOptInStatus.OPTED_IN, SmsOptInStatus.OPTED_OUT)
        and bool(recipient.phone)
    )


def opt_in_message(recipient: Recipient) -> str:
    campaign = recipient.campaign
    template = (campaign.sms_opt_in_message if campaign else "") or (
        sms_replies.DEFAULT_OPT_IN_MESSAGE
    )
    return sms_replies.render(template, client_name=recipient.audience.client.name)


def _provider(name: str) -> str:
    return name if name in SmsProvider.values else SmsProvider.TWILIO


def request_opt_in(*, recipient: Recipient, force: bool = False) -> SmsOptInLog | None:
    """Text the recipient the opt-in question and log it; None when nothing was sent.

    Idempotent: skips a recipient who may not be texted (see `queue_opt_in`) and, unless `force`,
    one whose opt-in already went out and did not fail. Never texts an opted-out recipient, even
    with `force`. A failed send is logged (`failed`) and re-raised as SmsError, whose `retryable`
    tells the task whether to try again.

    The recipient row stays locked while the text is sent, so two workers running the same task
    cannot both text; if the worker dies after the provider accepted the message, the transaction
    rolls back and the re-run texts again (at least once beats never for this message).
    """
    error = None
    with transaction.atomic():
        locked = Recipient.objects.select_for_update().get(pk=recipient.pk)
        if not _may_text(locked):
            return None
        already_sent = (
            SmsOptInLog.objects.filter(recipient=locked, direction=SmsDirection.OUTBOUND)
            .exclude(message_sid="")
            .exclude(status__in=UNSENT_STATUSES)
            .exists()
        )
        if already_sent and not force:
            return None
        body = opt_in_message(locked)
        callback = settings.SITE_URL.rstrip("/") + reverse("twilio-sms-status")
        try:
            sent = send_sms(locked.phone, body, status_callback=callback)
        except SmsError as exc:
            error = exc
            log = SmsOptInLog.objects.create(
                recipient=locked,
                campaign=locked.campaign,
                phone=locked.phone,
                direction=SmsDirection.OUTBOUND,
                message_text=body,
                status=SmsStatus.FAILED,
                error_message=f"{exc}{f' (code {exc.code})' if exc.code else ''}"
                f"{'; temporary, to be retried' if exc.retryable else ''}",
                provider_used=_provider(backend_name()),
            )
        else:
            now = timezone.now()
            log = SmsOptInLog.objects.create(
                recipient=locked,
                campaign=locked.campaign,
                phone=locked.phone,
                message_sid=sent.sid,
                direction=SmsDirection.OUTBOUND,
                message_text=body,
                status=TWILIO_STATUS.get(sent.status, SmsStatus.SENT),
                provider_used=_provider(sent.provider),
            )
            locked.sms_opt_in_status = SmsOptInStatus.PENDING
            locked.sms_opt_in_sent_at = now
            locked.save(update_fields=["sms_opt_in_status", "sms_opt_in_sent_at", "updated_at"])
            RecipientAuditLog.objects.create(
                recipient=locked,
                action=RecipientAuditAction.SMS_SENT,
                metadata={"kind": "opt_in", "message_sid": sent.sid, "resend": already_sent},
            )
            record_event(
                EventType.SMS_SENT,
                recipient=locked,
                source=EventSource.SMS,
                kind="opt_in",
                message_sid=sent.sid,
            )
    if error is not None:
        raise error
    return log


# --- Inbound texts -------------------------------------------------------------------------------


def _recipients_of(phone: str, raw: str) -> list[Recipient]:
    """Every recipient texted at this number, locked, most recently approved first."""
    numbers = {n for n in (phone, raw) if n}
    if not numbers:
        return []
    # Several rows are locked in primary-key order, so two texts from the same number queue
    # behind each other instead of deadlocking.
    locked = list(
        Recipient.objects.select_for_update(of=("self",))
        .filter(phone__in=numbers, sms_opt_in_status__in=RESPONSIVE_STATUSES)
        .select_related("audience__client", "campaign")
        .order_by("pk")
    )
    never = datetime.min.replace(tzinfo=UTC)
    return sorted(locked, key=lambda r: (r.approved_at or never, r.created_at), reverse=True)


def _reply_for(keyword: Keyword, recipient: Recipient) -> str:
    client_name = recipient.audience.client.name
    if keyword == Keyword.OPT_OUT:
        # Twilio answers STOP itself; a second text would be one too many.
        return ""
    if keyword == Keyword.HELP:
        template = sms_replies.HELP
    elif keyword in (Keyword.OPT_IN, Keyword.START):
        if recipient.approval_status in (ApprovalStatus.APPROVED, ApprovalStatus.REDEEMED):
            template = sms_replies.OPTED_IN_APPROVED
        elif recipient.approval_status == ApprovalStatus.REJECTED:
            template = sms_replies.OPTED_IN_NO_REWARD
        elif keyword == Keyword.START:
            template = sms_replies.RESTARTED_NOT_APPROVED
        else:
            template = sms_replies.OPTED_IN_NOT_APPROVED
    else:
        return sms_replies.HINT
    return sms_replies.render(template, client_name=client_name)


def _set_opt_in_status(recipient, status, *, body, message_sid, action, event) -> None:
    recipient.sms_opt_in_status = status
    recipient.sms_opt_in_response = body
    recipient.sms_opt_in_response_at = timezone.now()
    recipient.save(
        update_fields=[
            "sms_opt_in_status",
            "sms_opt_in_response",
            "sms_opt_in_response_at",
            "updated_at",
        ]
    )
    if action is not None:
        RecipientAuditLog.objects.create(
            recipient=recipient,
            action=action,
            metadata={"message_sid": message_sid, "body": body},
        )
    if event is not None:
        record_event(event, recipient=recipient, source=EventSource.SMS, message_sid=message_sid)


def _apply_keyword(keyword: Keyword, recipients: list[Recipient], *, body, message_sid) -> None:
    """Change the state of every recipient texted at the number.

    Carriers (and Twilio's opt-out handling) apply STOP and START to the phone number as a whole,
    so Mike's state follows the number: every recipient at it moves together."""
    for recipient in recipients:
        status = recipient.sms_opt_in_status
        approved = recipient.approval_status == ApprovalStatus.APPROVED
        if keyword == Keyword.OPT_OUT and status != SmsOptInStatus.OPTED_OUT:
            _set_opt_in_status(
                recipient,
                SmsOptInStatus.OPTED_OUT,
                body=body,
                message_sid=message_sid,
                action=RecipientAuditAction.OPTED_OUT,
                event=EventType.OPTED_OUT,
            )
        elif (
            keyword == Keyword.OPT_IN or (keyword == Keyword.START and approved)
        ) and status != SmsOptInStatus.OPTED_IN:
            _set_opt_in_status(
                recipient,
                SmsOptInStatus.OPTED_IN,
                body=body,
                message_sid=message_sid,
                action=RecipientAuditAction.OPTED_IN,
                event=EventType.OPTED_IN,
            )
            if approved:
                _claim_after_commit(recipient.pk)
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
    *, from_number: str, body: str, message_sid: str, to_number: str = ""
) -> str:
    """Act on a text a recipient sent and return the reply to send back ("" for none).

    YES/Y/OK opt in (and claim approved rewards after commit), the carrier stop words opt out,
    START/UNSTOP come back, HELP/INFO get help, anything else a hint. Every message in and out is
    an `SmsOptInLog` row on the most recently approved recipient at the number (the reply as
    `sent`: it goes back in the webhook's TwiML). Idempotent by `message_sid`: Twilio's retry of
    the same message gets the same reply and writes nothing. A number Mike never texted gets a
    generic reply and nothing is logged (a log row needs a recipient).
    """
    keyword = sms_replies.classify(body)
    phone = normalize_phone(from_number)
    with transaction.atomic():
        # Locking the recipients first also serialises two deliveries of the same message: the
        # second one finds the first one's log row below.
        recipients = _recipients_of(phone, from_number)
        if not recipients:
            # Never answer a STOP: the carrier confirms it, and nothing may follow.
            return "" if keyword == Keyword.OPT_OUT else sms_replies.UNKNOWN_NUMBER
        primary = recipients[0]
        if message_sid:
            seen = SmsOptInLog.objects.filter(
                message_sid=message_sid, direction=SmsDirection.INBOUND
            ).first()
            if seen is not None:
                return _reply_for(keyword, seen.recipient)
        try:
            with transaction.atomic():
                SmsOptInLog.objects.create(
                    recipient=primary,
                    campaign=primary.campaign,
                    phone=phone or from_number,
                    message_sid=message_sid,
                    direction=SmsDirection.INBOUND,
                    message_text=body,
                    status=SmsStatus.RECEIVED,
                    provider_used=SmsProvider.TWILIO,
                )
        except IntegrityError:
            seen = SmsOptInLog.objects.get(message_sid=message_sid, direction=SmsDirection.INBOUND)
            return _reply_for(keyword, seen.recipient)
        _apply_keyword(keyword, recipients, body=body, message_sid=message_sid)
        reply = _reply_for(keyword, primary)
        if reply:
            SmsOptInLog.objects.create(
                recipient=primary,
                campaign=primary.campaign,
                phone=phone or from_number,
                direction=SmsDirection.OUTBOUND,
                message_text=reply,
                status=SmsStatus.SENT,
                provider_used=SmsProvider.TWILIO,
            )
    return reply


# --- Status callbacks ----------------------------------------------------------------------------


def apply_sms_status(*, message_sid: str, status: str, error_code: str = "") -> None:
    """Apply Twilio's status callback for an outbound message.

    An opt-in text's log row moves forward only (queued < sent < delivered; failed and undelivered
    are final), so a late or repeated callback changes nothing. Any other message is a gift card
    delivery, handed to `giftcards.services.update_delivery_status` when that exists.
    """
    if not message_sid:
        return
    new_status = TWILIO_STATUS.get((status or "").lower())
    with transaction.atomic():
        log = (
            SmsOptInLog.objects.select_for_update()
            .filter(message_sid=message_sid, direction=SmsDirection.OUTBOUND)
            .first()
        )
        if log is not None:
            if new_status is not None and STATUS_RANK[new_status] > STATUS_RANK.get(log.status, 0):
                log.status = new_status
                if error_code:
                    log.error_message = f"Twilio error {error_code}"
                log.save(update_fields=["status", "error_message", "updated_at"])
            return
    from giftcards.delivery import update_delivery_status

    update_delivery_status(message_sid=message_sid, status=status, error_code=error_code)
