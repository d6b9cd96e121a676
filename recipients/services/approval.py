"""Approving and rejecting recipients, and moving one on after a condition was met."""

from django.db import transaction
from django.utils import timezone

from campaigns.models import Event, EventSource, EventType
from mike.core.errors import DomainError

from ..models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
    SmsOptInStatus,
)
from .claim import claim_after_commit
from .opt_in import queue_opt_in


class ApprovalError(DomainError):
    """The recipient cannot be approved or rejected from the state they are in."""


def _lock(recipient: Recipient) -> Recipient:
    return Recipient.objects.select_for_update().get(pk=recipient.pk)


def _user_id(user) -> str | None:
    return str(user.pk) if user is not None else None


def approve_recipient(*, recipient: Recipient, by=None, call_session=None) -> Recipient:
    """Approve a pending recipient: who (`by`, None for automatic approval), when, and the call.

    Idempotent: an approved (or redeemed) recipient is returned unchanged. A rejected one raises
    ApprovalError. After commit, the opt-in text is queued; a recipient who already opted in has
    their rewards claimed instead (or, when that opt-in is stale, is asked again: see
    `reask_expired_opt_in`). Locks the recipient row.
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
        Event.objects.record(
            EventType.APPROVED,
            recipient=locked,
            source=EventSource.ADMIN if by is not None else EventSource.SYSTEM,
            approved_by=_user_id(by),
        )
        if locked.sms_opt_in_status == SmsOptInStatus.OPTED_IN:
            claim_after_commit(locked.pk)
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
        Event.objects.record(
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
    recipient who opted in has the new reward claimed (or is asked again when that opt-in is
    stale); one who was never texted is texted."""
    recipient = Recipient.objects.select_related("audience__client").get(pk=recipient_id)
    if recipient.approval_status == ApprovalStatus.PENDING:
        if recipient.audience.client.auto_approve_recipients:
            approve_recipient(recipient=recipient, by=None)
    elif recipient.approval_status == ApprovalStatus.APPROVED:
        if recipient.sms_opt_in_status == SmsOptInStatus.OPTED_IN:
            claim_after_commit(recipient.pk)
        elif recipient.sms_opt_in_status == SmsOptInStatus.NOT_SENT:
            queue_opt_in(recipient=recipient)
