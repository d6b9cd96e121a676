"""Approval and rejection, and the one function that moves a recipient on to whatever step their
rows call for next (`advance_recipient`): every trigger (a condition met, an approval, a YES, the
sweep) ends there, so there is one answer to "what happens now"."""

from django.db import transaction

from giftcards.models import RecipientGiftCard
from giftcards.services import reject_rewards_of
from recipients import services as recipient_services
from recipients.models import READY, Readiness, Recipient


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
    under its own locks, so a trigger that fires twice, or the sweep after it, does nothing twice.

    - pending, with a reward waiting, and the client approves automatically: approve (which moves
      them on again after commit);
    - approved (or redeemed: a later condition still earns its reward) and ready for a card
      (opted in to texts, or reachable by email only), or opted in long ago: claim their waiting
      rewards (a stale opt-in is asked again instead);
    - approved with a reward waiting, not opted in or out yet: text the opt-in question. Nobody is
      asked to opt in to a reward they have not earned: with no reward waiting, nothing is sent.
    """
    from .claims import claim_pending_rewards
    from .opt_in import queue_opt_in

    recipient = Recipient.objects.select_related("audience__client").get(pk=recipient_id)
    waiting = RecipientGiftCard.objects.claimable().filter(recipient=recipient).exists()
    readiness = recipient.readiness()
    if readiness == Readiness.NOT_APPROVED:
        if waiting and recipient.audience.client.auto_approve_recipients:
            approve_recipient(recipient=recipient, by=None)
    elif readiness in (*READY, Readiness.OPT_IN_STALE):
        if waiting:
            claim_pending_rewards(recipient=recipient)
    elif readiness == Readiness.NEEDS_OPT_IN and waiting:
        queue_opt_in(recipient=recipient)
