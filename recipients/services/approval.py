"""Approving and rejecting recipients (their side only: what follows is `mike.rewards.approval`)."""

from django.db import transaction
from django.utils import timezone

from campaigns.models import Event, EventSource, EventType
from mike import webhooks
from mike.core.errors import DomainError
from mike.webhooks import payloads
from mike.webhooks.catalogue import WebhookEventType

from ..models import (
    ApprovalStatus,
    Recipient,
    RecipientAuditAction,
    RecipientAuditLog,
)


class ApprovalError(DomainError):
    """The recipient cannot be approved or rejected from the state they are in."""


def _lock(recipient: Recipient) -> Recipient:
    return Recipient.objects.select_for_update().get(pk=recipient.pk)


def _user_id(user) -> str | None:
    return str(user.pk) if user is not None else None


def approve_recipient(*, recipient: Recipient, by=None, call_session=None) -> Recipient:
    """Approve a pending recipient: who (`by`, None for automatic approval), when, and the call.

    Idempotent: an approved (or redeemed) recipient is returned unchanged. A rejected one raises
    ApprovalError. Locks the recipient row. The opt-in text or the claim that follows is the
    reward pipeline's (`mike.rewards.approval.approve_recipient`).
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
        webhooks.emit(
            WebhookEventType.RECIPIENT_APPROVED,
            client=locked.audience.client_id,
            payload=lambda: {
                **payloads.recipient(locked),
                "approved_at": locked.approved_at.isoformat(),
                "automatic": by is None,
            },
            is_test=locked.is_test,
        )
    return locked


def reject_recipient(*, recipient: Recipient, by=None, reason: str) -> Recipient:
    """Reject a pending or approved recipient with a reason (required: ValueError without one).

    Rejecting twice is a no-op; a redeemed recipient raises ApprovalError. Locks the recipient
    row. Their rewards not yet claimed are rejected by the reward pipeline in the same
    transaction (`mike.rewards.approval.reject_recipient`), after this lock.
    """
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
        RecipientAuditLog.objects.create(
            recipient=locked,
            action=RecipientAuditAction.REJECTED,
            performed_by=by,
            metadata={
                "reason": reason,
                "previous_status": previous,
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
