"""Gift card services: the credit ledger, pool inventory and the atomic claim of a card.

Every function that changes a balance or a pool counter locks that row (`SELECT … FOR UPDATE`)
inside the caller's transaction and writes its ledger or audit row in the same transaction, so a
balance can always be recomputed from its ledger and a counter from its cards.

One module per family of writes; everything a caller needs is importable from here.
"""

from .claim import (
    APPROVED_STATUSES,
    ASSIGNMENT_FOR_CONDITION_SOURCE,
    CLAIMABLE_REWARD_STATUSES,
    PROVIDER_METHODS,
    NoCardAvailable,
    RewardNotClaimable,
    _claim,
    claim_card_atomic,
    ensure_reward,
    get_recipient_gift_card_for_condition,
)
from .claim_rows import COST_BASIS
from .credit import CENT, InsufficientCredit, allocate_credit, credit_account_for, post_credit
from .inventory import (
    CardImportResult,
    CardNotRemovable,
    DuplicateCardCode,
    add_card_to_pool,
    add_cards_to_pool,
    remove_card_from_pool,
)
from .rewards import _queue_delivery_task, claim_pending_rewards, mark_awaiting_stock

__all__ = [
    "APPROVED_STATUSES",
    "ASSIGNMENT_FOR_CONDITION_SOURCE",
    "CENT",
    "CLAIMABLE_REWARD_STATUSES",
    "COST_BASIS",
    "PROVIDER_METHODS",
    "CardImportResult",
    "CardNotRemovable",
    "DuplicateCardCode",
    "InsufficientCredit",
    "NoCardAvailable",
    "RewardNotClaimable",
    "_claim",
    "_queue_delivery_task",
    "add_card_to_pool",
    "add_cards_to_pool",
    "allocate_credit",
    "claim_card_atomic",
    "claim_pending_rewards",
    "credit_account_for",
    "ensure_reward",
    "get_recipient_gift_card_for_condition",
    "mark_awaiting_stock",
    "post_credit",
    "remove_card_from_pool",
]
