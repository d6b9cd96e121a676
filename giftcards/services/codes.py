"""Showing a card's full code to a person: only to those allowed, and every time on the record."""

from django.db import transaction

from mike.core.errors import DomainError

from ..models import GiftCard, GiftCardAuditAction, GiftCardAuditLog

REVEAL_PERMISSION = "giftcards.view_card_code"


class CodeRevealRefused(DomainError):
    """The user may not see full card codes; nothing was shown or written."""


def can_reveal_codes(user) -> bool:
    """Whether `user` may see full card codes: a superuser, or staff holding view_card_code. The
    code is bearer money, so no client or agency role reaches it, whatever else it may change."""
    if user is None or not user.is_active:
        return False
    return bool(user.is_superuser or (user.is_staff and user.has_perm(REVEAL_PERMISSION)))


def reveal_card_code(*, card: GiftCard, by) -> str:
    """The card's clear code, for `by` to see once, with a `card_code_revealed` audit row naming
    who saw which card (the row holds the masked code only). Raises CodeRevealRefused for a user
    who may not see codes. Not idempotent by design: each reveal is its own audit row."""
    if not can_reveal_codes(by):
        raise CodeRevealRefused("Only staff allowed to see gift card codes may reveal one.")
    with transaction.atomic():
        GiftCardAuditLog.objects.create(
            client_id=card.pool.client_id,
            action=GiftCardAuditAction.CARD_CODE_REVEALED,
            entity_type="gift_card",
            entity_id=card.pk,
            user=by,
            metadata={"code": card.masked_code, "pool": str(card.pool_id), "status": card.status},
        )
    return card.code
