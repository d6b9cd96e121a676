"""Gift card brands, pools and cards; rewards and their deliveries; the credit ledger and sales.

Invariants the database holds (services keep the rest):
- a card code is stored only encrypted (Fernet) and is unique through a keyed hash (`code_hash`);
- a recipient gets at most one reward per campaign condition, and a card backs at most one reward;
- pool counters, credit balances and ledger rows never go negative, and every ledger row satisfies
  balance_after = balance_before + amount.

One module per subdomain, all under the `giftcards` app label (the tables keep their names):
`inventory` (brands, pools, cards), `rewards` (rewards, deliveries, their SMS log), `ledger`
(credit accounts, transactions, sales), `audit` (the audit log and balance checks), `alerts`
(what staff were alerted about) and `choices`.
"""

from .alerts import (
    AlertKind,
    StaffAlert,
    StaffAlertQuerySet,
)
from .audit import (
    GiftCardAuditLog,
    GiftCardBalanceHistory,
)
from .choices import (
    CLAIMABLE_REWARD_STATUSES,
    MONEY,
    OPEN_DELIVERY_STATUSES,
    OPT_OUT_FAILURE_REASONS,
    OWED_A_CARD_STATUSES,
    AssignmentSource,
    BalanceCheckMethod,
    BalanceCheckStatus,
    BrandProvider,
    CardDeliveryMethod,
    CardSource,
    CreditEntityType,
    DeliveryFailureReason,
    DeliveryStatus,
    GiftCardAuditAction,
    GiftCardStatus,
    MetadataSource,
    PoolProvider,
    PoolType,
    PurchaseMethod,
    PurchaseStatus,
    RewardDeliveryMethod,
    RewardDeliveryStatus,
    RewardStatus,
    TransactionType,
    money_field,
)
from .inventory import (
    GiftCard,
    GiftCardBrand,
    GiftCardBrandQuerySet,
    GiftCardPool,
    GiftCardPoolQuerySet,
    GiftCardQuerySet,
)
from .ledger import (
    LOW_BALANCE,
    CreditAccount,
    CreditTransaction,
    GiftCardSale,
)
from .rewards import (
    GiftCardDelivery,
    GiftCardDeliveryQuerySet,
    RecipientGiftCard,
    RecipientGiftCardQuerySet,
    SmsDeliveryLog,
)

__all__ = [
    "CLAIMABLE_REWARD_STATUSES",
    "OWED_A_CARD_STATUSES",
    "RecipientGiftCardQuerySet",
    "AlertKind",
    "StaffAlert",
    "StaffAlertQuerySet",
    "AssignmentSource",
    "BalanceCheckMethod",
    "BalanceCheckStatus",
    "BrandProvider",
    "CardDeliveryMethod",
    "CardSource",
    "CreditAccount",
    "CreditEntityType",
    "CreditTransaction",
    "DeliveryFailureReason",
    "DeliveryStatus",
    "GiftCard",
    "GiftCardAuditAction",
    "GiftCardAuditLog",
    "GiftCardBalanceHistory",
    "GiftCardBrand",
    "GiftCardBrandQuerySet",
    "GiftCardDelivery",
    "GiftCardDeliveryQuerySet",
    "GiftCardPool",
    "GiftCardPoolQuerySet",
    "GiftCardQuerySet",
    "GiftCardSale",
    "GiftCardStatus",
    "LOW_BALANCE",
    "MONEY",
    "MetadataSource",
    "OPEN_DELIVERY_STATUSES",
    "OPT_OUT_FAILURE_REASONS",
    "PoolProvider",
    "PoolType",
    "PurchaseMethod",
    "PurchaseStatus",
    "RecipientGiftCard",
    "RewardDeliveryMethod",
    "RewardDeliveryStatus",
    "RewardStatus",
    "SmsDeliveryLog",
    "TransactionType",
    "money_field",
]
