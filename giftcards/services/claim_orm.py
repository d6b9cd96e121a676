"""The portable claim writer: the ORM, a statement per row. The reference path, used on SQLite
(the development default) and when GIFTCARD_CLAIM_SQL is False."""

from django.db import connection
from django.db.models import F

from mike.accounts.models import Organization
from recipients.models import Recipient

from ..models import (
    GiftCard,
    GiftCardPool,
    GiftCardStatus,
    RecipientGiftCard,
)
from .claim_rows import ClaimInputs, ClaimRows
from .credit import credit_account_for, post_credit


def _lock_card(pool_id, reward, card_id=None):
    """Lock the oldest available card of the pool of the reward's brand and value (or exactly
    `card_id`, if it is one), skipping cards other claims hold."""
    features = connection.features
    if features.has_select_for_update_skip_locked:
        cards = GiftCard.objects.select_for_update(skip_locked=True)
    else:
        # SQLite (development only) locks the whole database for a write anyway.
        cards = GiftCard.objects.select_for_update()
    cards = cards.filter(
        pool_id=pool_id,
        status=GiftCardStatus.AVAILABLE,
        brand_id=reward.brand_id,
        card_value=reward.card_value,
    )
    if card_id is not None:
        cards = cards.filter(pk=card_id)
    return cards.order_by("created_at").first()


def _write_claim_portable(rows: ClaimRows, *, pool_id, card_id) -> GiftCard | None:
    """Write a claim with the ORM, a statement per row: the reference path, used on SQLite (the
    development default). None when no card is available; raises InsufficientCredit."""
    card = _lock_card(pool_id, rows.reward, card_id)
    if card is None:
        return None
    for name, value in {"status": GiftCardStatus.CLAIMED, **rows.card_updates()}.items():
        setattr(card, name, value)
    card.save()
    rows.attach_card(card)
    RecipientGiftCard.objects.filter(pk=rows.reward.pk).update(
        gift_card_id=card.pk, **rows.reward_updates()
    )
    Recipient.objects.filter(pk=rows.recipient_id).update(
        gift_card_assigned_id=card.pk, updated_at=rows.now
    )
    for row in (rows.delivery, rows.card_audit, rows.recipient_audit, rows.event):
        row.save(force_insert=True)
    # The hot rows, last (see the lock-order note above).
    GiftCardPool.objects.filter(pk=card.pool_id).update(
        available_cards=F("available_cards") - 1, claimed_cards=F("claimed_cards") + 1
    )
    ledger = rows.ledger
    rows.attach_ledger(
        post_credit(
            credit_account_for(Organization.objects.get(pk=rows.client_id)),
            ledger.amount,
            transaction_type=ledger.transaction_type,
            description=ledger.description,
            reference_type=ledger.reference_type,
            reference_id=ledger.reference_id,
        )
    )
    rows.sale.save(force_insert=True)
    return card


def _lock_inputs_portable(*, recipient_id, condition_id) -> ClaimInputs:
    """Lock the recipient, then its reward for the condition (None when it has none yet), and
    list the client's active pools of the reward's brand and value, oldest first, with the ORM."""
    # of=("self",): lock the recipient only, not the audience row joined in.
    phone, email, client_id, by_email = (
        Recipient.objects.select_for_update(of=("self",))
        .filter(pk=recipient_id)
        .values_list("phone", "email", "audience__client_id", "reward_by_email")
        .get()
    )
    if by_email and email:
        phone = ""  # the recipient chose email (reward_by_email): the card goes there
    reward = (
        RecipientGiftCard.objects.select_for_update(of=("self",))
        .select_related("brand")
        .filter(recipient_id=recipient_id, condition_id=condition_id)
        .first()
    )
    pool_ids = []
    if reward is not None:
        pool_ids = list(
            GiftCardPool.objects.for_reward(
                client_id=client_id, brand_id=reward.brand_id, card_value=reward.card_value
            ).values_list("pk", flat=True)
        )
    return ClaimInputs(phone, email, client_id, reward, pool_ids)
