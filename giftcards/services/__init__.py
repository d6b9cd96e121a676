"""Gift card services: the credit ledger, pool inventory and the atomic claim of a card.

Every function that changes a balance or a pool counter locks that row (`SELECT … FOR UPDATE`)
inside the caller's transaction and writes its ledger or audit row in the same transaction, so a
balance can always be recomputed from its ledger and a counter from its cards.

One module per family of writes; everything a caller needs is importable from here. The
deliveries (`delivery`) and provider purchases (`purchase`) are modules of their own, imported by
name. None of these calls another domain's services: the reward pipeline that strings them
together is `mike.rewards`.
"""

from .claim import (
    ASSIGNMENT_FOR_CONDITION_SOURCE,
    PROVIDER_METHODS,
    NoCardAvailable,
    RewardNotClaimable,
    claim_card_atomic,
    claim_reward_card,
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
from .rewards import (
    mark_awaiting_credit,
    mark_awaiting_stock,
    reject_rewards_of,
)

__all__ = [
    "ASSIGNMENT_FOR_CONDITION_SOURCE",
    "CENT",
    "COST_BASIS",
    "CardImportResult",
    "CardNotRemovable",
    "DuplicateCardCode",
    "InsufficientCredit",
    "NoCardAvailable",
    "PROVIDER_METHODS",
    "RewardNotClaimable",
    "add_card_to_pool",
    "add_cards_to_pool",
    "allocate_credit",
    "claim_card_atomic",
    "claim_reward_card",
    "credit_account_for",
    "ensure_reward",
    "get_recipient_gift_card_for_condition",
    "mark_awaiting_credit",
    "mark_awaiting_stock",
    "post_credit",
    "reject_rewards_of",
    "remove_card_from_pool",
]
