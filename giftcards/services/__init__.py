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
    APPROVED_STATUSES,
    ASSIGNMENT_FOR_CONDITION_SOURCE,
    CLAIMABLE_REWARD_STATUSES,
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
    UNCLAIMED_STATUSES,
    WAITING_FOR_A_CARD,
    mark_awaiting_credit,
    mark_awaiting_stock,
    reject_rewards_of,
)

__all__ = [
    "APPROVED_STATUSES",
    "ASSIGNMENT_FOR_CONDITION_SOURCE",
    "CENT",
    "CLAIMABLE_REWARD_STATUSES",
    "COST_BASIS",
    "CardImportResult",
    "CardNotRemovable",
    "DuplicateCardCode",
    "InsufficientCredit",
    "NoCardAvailable",
    "PROVIDER_METHODS",
    "RewardNotClaimable",
    "UNCLAIMED_STATUSES",
    "add_card_to_pool",
    "add_cards_to_pool",
    "allocate_credit",
    "claim_card_atomic",
    "claim_reward_card",
    "credit_account_for",
    "ensure_reward",
    "get_recipient_gift_card_for_condition",
    "WAITING_FOR_A_CARD",
    "mark_awaiting_credit",
    "mark_awaiting_stock",
    "post_credit",
    "reject_rewards_of",
    "remove_card_from_pool",
]
