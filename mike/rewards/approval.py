"""Approval and rejection, and the one function that moves a recipient on to whatever step their
rows call for next (`advance_recipient`): every trigger (a condition met, an approval, a YES, the
sweep) ends there, so there is one answer to "what happens now"."""

from django.db import transaction

from giftcards.services import reject_rewards_of
from recipients import services as recipient_services
from recipients.models import ApprovalStatus, Recipient, SmsOptInStatus


def approve_recipient(*, recipient: Recipient, by=None, call_session=None) -> Recipient:
    """Approve a pending recipient (recipients.services.approve_recipient: idempotent, raises
    ApprovalError for a rejected one) and, after commit, move them on: the opt-in text, or the
    claim of their rewards when they opted in already (`advance_recipient`)."""
    with transaction.atomic():
        approved = recipient_services.approve_recipient(
            recipient=recipient, by=by, call_session=call_session
        )
        advance_after_commit(approved.pk)
    return approved


def reject_recipient(*, recipient: Recipient, by=None, reason: str) -> Recipient:
    """Reject a recipient with a reason (recipients.services.reject_recipient) and, in the same
    transaction, their rewards no card backs yet (giftcards.services.reject_rewards_of). Locks
    the recipient, then their rewards."""
    with transaction.atomic():
        rejected = recipient_services.reject_recipient(recipient=recipient, by=by, reason=reason)
        reject_rewards_of(recipient=rejected, by=by, reason=rejected.rejection_reason)
    return rejected


def advance_after_commit(recipient_id) -> None:
    """Move the recipient on once the caller's transaction commits. robust: the change that
    called for it is committed; a failure here is logged, and the sweep moves the recipient on
    later (mike.rewards.sweeps)."""
    transaction.on_commit(lambda: advance_recipient(recipient_id), robust=True)


def advance_recipient(recipient_id) -> None:
    """Take the recipient to the next step their rows call for. Idempotent: each step checks again
    under its own locks.

    - pending, and the client approves automatically: approve (which moves them on again);
    - approved and opted in: claim their waiting rewards;
    - approved, not opted in or out yet: text the opt-in question (sent once).
    """
    from .claims import claim_pending_rewards
    from .opt_in import queue_opt_in

    recipient = Recipient.objects.select_related("audience__client").get(pk=recipient_id)
    if recipient.approval_status == ApprovalStatus.PENDING:
        if recipient.audience.client.auto_approve_recipients:
            approve_recipient(recipient=recipient, by=None)
    elif recipient.approval_status == ApprovalStatus.APPROVED:
        if recipient.sms_opt_in_status == SmsOptInStatus.OPTED_IN:
            claim_pending_rewards(recipient=recipient)
        else:
            queue_opt_in(recipient=recipient)
