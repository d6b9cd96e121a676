"""Showing full card codes to a person: only to those allowed, and every time on the record,
one card at a time (a reveal) or a pool's cards as a file (an export)."""

from collections.abc import Iterator
from dataclasses import dataclass

from django.db import transaction

from mike.accounts.services import HANDLE_CALLS, user_can_access_client
from mike.core.errors import DomainError

from ..models import GiftCard, GiftCardAuditAction, GiftCardAuditLog, GiftCardPool

REVEAL_PERMISSION = "giftcards.view_card_code"

# The columns of a full-code export: the import's own (giftcards.services.imports), so the file
# goes back into a pool as it is, and the card's status.
CARD_EXPORT_COLUMNS = ("card_code", "card_number", "pin", "balance", "status", "expiration_date")
EXPORT_CHUNK = 1000


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
    return _revealed(card, by)


def _revealed(card: GiftCard, by, **context) -> str:
    """Record that `by` saw the card's code (masked in the row, with `context`); return it."""
    with transaction.atomic():
        GiftCardAuditLog.objects.create(
            client_id=card.pool.client_id,
            action=GiftCardAuditAction.CARD_CODE_REVEALED,
            entity_type="gift_card",
            entity_id=card.pk,
            user=by,
            metadata={
                "code": card.masked_code,
                "pool": str(card.pool_id),
                "status": card.status,
                **context,
            },
        )
    return card.code


def agent_may_reveal(user, client) -> bool:
    """Whether `user` may reveal a card of `client` on a call: the client lets its agents see
    codes (`agents_see_card_codes`) and the user works the client's calls, or the user may see
    codes anyway (`can_reveal_codes`)."""
    if can_reveal_codes(user):
        return True
    if user is None or not user.is_active or not client.agents_see_card_codes:
        return False
    return user_can_access_client(user, client, HANDLE_CALLS)


def reveal_code_on_call(*, card: GiftCard, by, call_session) -> str:
    """The card's clear code for an agent to read to the caller, with a `card_code_revealed`
    audit row naming the agent and the call (masked code only). Raises CodeRevealRefused unless
    `agent_may_reveal`. Each reveal is its own audit row."""
    if not agent_may_reveal(by, card.pool.client):
        raise CodeRevealRefused("This client does not let agents see gift card codes.")
    return _revealed(card, by, call_session=str(call_session.pk))


@dataclass(frozen=True)
class CardCodeExport:
    """A full-code export once allowed and recorded: how many cards it holds (when it began) and
    its rows, clear values in CARD_EXPORT_COLUMNS order, read lazily."""

    count: int
    rows: Iterator[tuple]


def export_card_codes(
    *, pool: GiftCardPool, by, cards, filters: dict | None = None
) -> CardCodeExport:
    """The cards of `cards` (a queryset, cut to `pool`) with their clear code, card number and
    PIN, for `by` to download, after one `card_codes_exported` audit row naming who, the pool,
    the filters the cards were chosen by and how many there were.

    Raises CodeRevealRefused, before anything is read or written, for a user who may not see
    codes. The audit row is committed before the first code is decrypted, so an export cut off
    half way is still on the record. Not idempotent by design: each export is its own row. The
    rows are read in chunks through a server-side cursor and decrypted one by one, so memory
    stays flat at any pool size."""
    if not can_reveal_codes(by):
        raise CodeRevealRefused("Only staff allowed to see gift card codes may export them.")
    cards = cards.filter(pool=pool)
    with transaction.atomic():
        count = cards.count()
        GiftCardAuditLog.objects.create(
            client_id=pool.client_id,
            action=GiftCardAuditAction.CARD_CODES_EXPORTED,
            entity_type="gift_card_pool",
            entity_id=pool.pk,
            user=by,
            metadata={
                "pool": str(pool.pk),
                "pool_name": pool.pool_name,
                "filters": {key: value for key, value in (filters or {}).items() if value},
                "count": count,
            },
        )
    return CardCodeExport(count=count, rows=_clear_rows(cards))


def _clear_rows(cards) -> Iterator[tuple]:
    fields = (
        "pk",
        "created_at",
        "code_encrypted",
        "card_number_encrypted",
        "pin_encrypted",
        "current_balance",
        "card_value",
        "status",
        "expiration_date",
    )
    rows = cards.select_related(None).prefetch_related(None).only(*fields)
    for card in rows.iterator(chunk_size=EXPORT_CHUNK):
        yield (
            card.code,
            card.card_number,
            card.pin,
            # A card never checked holds its face value (as the import reads an empty balance).
            card.current_balance if card.current_balance is not None else card.card_value,
            card.status,
            card.expiration_date.isoformat() if card.expiration_date else "",
        )
