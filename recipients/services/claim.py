"""Handing an approved, opted-in recipient's waiting rewards to the gift card claim.

The claim runs after the recipient's transaction commits, in transactions of its own
(`giftcards.services.claim_pending_rewards`), so a rolled-back approval or opt-in claims nothing.
"""

from django.db import transaction

from ..models import Recipient


def claim_after_commit(recipient_id) -> None:
    transaction.on_commit(lambda: claim_rewards(recipient_id=recipient_id), robust=True)


def claim_rewards(*, recipient_id) -> None:
    """Hand the recipient's waiting rewards to `giftcards.services.claim_pending_rewards`."""
    from giftcards.services import claim_pending_rewards

    claim_pending_rewards(recipient=Recipient.objects.get(pk=recipient_id))
