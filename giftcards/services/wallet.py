"""Recording a wallet pass handed to a recipient (giftcards.wallet builds it)."""

from recipients.models import RecipientAuditAction, RecipientAuditLog

from ..models import RecipientGiftCard


def record_pass_download(
    *, reward: RecipientGiftCard, wallet: str, ip: str, user_agent: str
) -> RecipientAuditLog:
    """One `viewed` audit row on the recipient per pass handed out (`wallet` is "apple" or
    "google"): the pass carries the card's code, so who fetched it, and from where, is kept."""
    return RecipientAuditLog.objects.create(
        recipient=reward.recipient,
        action=RecipientAuditAction.VIEWED,
        ip_address=ip or None,
        user_agent=user_agent[:1000],
        metadata={"wallet": wallet, "reward": str(reward.pk)},
    )
