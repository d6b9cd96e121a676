"""The gift card domain's choices and money field, shared by its models."""

from django.db import models

MONEY = {"max_digits": 12, "decimal_places": 2}


def money_field(**kwargs):
    return models.DecimalField(**MONEY, **kwargs)


# --- Choices -----------------------------------------------------------------------------------


class BrandProvider(models.TextChoices):
    TILLO = "tillo", "Tillo"
    CSV_ONLY = "csv_only", "CSV upload only"


class BalanceCheckMethod(models.TextChoices):
    TILLO_API = "tillo_api", "Tillo API"
    MANUAL = "manual", "Manual"
    OTHER_API = "other_api", "Other API"
    NONE = "none", "None"


class BalanceCheckStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"
    NOT_SUPPORTED = "not_supported", "Not supported"


class MetadataSource(models.TextChoices):
    AUTO_LOOKUP = "auto_lookup", "Automatic lookup"
    MANUAL = "manual", "Manual"
    TILLO = "tillo", "Tillo"


class PoolType(models.TextChoices):
    CSV = "csv", "CSV inventory"
    BUFFER = "buffer", "Provider buffer"
    API_CONFIG = "api_config", "API configuration"


class PurchaseMethod(models.TextChoices):
    CSV_ONLY = "csv_only", "Inventory only"
    API_ONLY = "api_only", "Provider only"
    FALLBACK = "fallback", "Inventory, then provider"


class PoolProvider(models.TextChoices):
    TILLO = "tillo", "Tillo"


class GiftCardStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    CLAIMED = "claimed", "Claimed"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class CardDeliveryMethod(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class AssignmentSource(models.TextChoices):
    CALL_CENTER = "call_center", "Call center"
    LANDING_PAGE = "landing_page", "Landing page"
    FORM_SUBMISSION = "form_submission", "Form submission"
    API = "api", "API"
    MANUAL = "manual", "Manual"


class CardSource(models.TextChoices):
    CSV = "csv", "CSV upload"
    PROVIDER = "provider", "Bought from provider"
    TRANSFER = "transfer", "Transferred from another pool"


class RewardStatus(models.TextChoices):
    PENDING = "pending", "Pending approval or opt-in"
    AWAITING_STOCK = "awaiting_stock", "Awaiting stock"
    AWAITING_CREDIT = "awaiting_credit", "Awaiting the client's credit"
    PURCHASE_PENDING = "purchase_pending", "Provider purchase pending"
    CLAIMED = "claimed", "Claimed"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"


# Rewards still owed a card that a claim may take now (a provider purchase under way is the
# purchase's to settle), and those plus the one waiting on the provider: every reward owed a card.
CLAIMABLE_REWARD_STATUSES = (
    RewardStatus.PENDING,
    RewardStatus.AWAITING_STOCK,
    RewardStatus.AWAITING_CREDIT,
)
OWED_A_CARD_STATUSES = (*CLAIMABLE_REWARD_STATUSES, RewardStatus.PURCHASE_PENDING)


class PurchaseStatus(models.TextChoices):
    """Where a reward's provider purchase stands, apart from the reward's own status: a purchase
    outlives the reward that asked for it (a reward rejected or revoked while the provider is
    answering still has a card paid for, which the settle sweep stores as stock)."""

    NONE = "", "No purchase"
    PENDING = "pending", "Asked, not settled"
    ISSUED = "issued", "Card issued"
    REFUSED = "refused", "Refused by the provider"


class RewardDeliveryMethod(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"
    CALL_CENTER = "call_center", "Call center"
    API = "api", "API"


class RewardDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    BOUNCED = "bounced", "Bounced"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    UNDELIVERED = "undelivered", "Undelivered"
    BOUNCED = "bounced", "Bounced"


class DeliveryFailureReason(models.TextChoices):
    """Why a delivery failed, as a value (the error message is for people). The opt-out reasons
    are the ones a delivery is resent for by itself when the number opts back in."""

    OPTED_OUT = "opted_out", "Recipient opted out"
    CARRIER_OPT_OUT = "carrier_opt_out", "Opted out at the carrier (21610)"
    SEND_ERROR = "send_error", "Send error"
    # The attempt's worker died, or Twilio's answer never came: whether the text left is unknown,
    # so the next attempt first asks Twilio what it sent (mike.rewards.delivery).
    OUTCOME_UNKNOWN = "outcome_unknown", "Outcome unknown (checked before the next attempt)"
    UNDELIVERED = "undelivered", "Reported undelivered"
    REVOKED = "revoked", "Reward revoked"


OPT_OUT_FAILURE_REASONS = [DeliveryFailureReason.OPTED_OUT, DeliveryFailureReason.CARRIER_OPT_OUT]

# Deliveries the sweep still has to finish (a row in one of these states may be retried).
OPEN_DELIVERY_STATUSES = [DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.FAILED]


class GiftCardAuditAction(models.TextChoices):
    """What a gift card audit row records (GiftCardAuditLog.action)."""

    CARDS_ADDED = "cards_added", "Cards added"
    CARD_REMOVED = "card_removed", "Card removed"
    CARD_CLAIMED = "card_claimed", "Card claimed"
    CARD_PURCHASED = "card_purchased", "Card bought from the provider"
    PURCHASED_CARD_STOCKED = "purchased_card_stocked", "Bought card kept as stock"
    PURCHASE_REFUSED = "purchase_refused", "Provider purchase refused"
    LOW_STOCK = "low_stock", "No card in stock"
    CLAIM_REFUSED_FOR_CREDIT = "claim_refused_insufficient_credit", "Claim refused for credit"
    REWARD_REJECTED = "reward_rejected", "Reward rejected"
    REWARD_REVOKED = "reward_revoked", "Reward revoked"
    CARD_CODE_REVEALED = "card_code_revealed", "Card code revealed"
    CARD_CODES_EXPORTED = "card_codes_exported", "Card codes exported"
    CARDS_SOLD = "cards_sold", "Cards bought from a master pool"
    LOW_BALANCE_THRESHOLD_SET = "low_balance_threshold_set", "Low-balance threshold set"
    CARD_KEY_ROTATED = "card_key_rotated", "Encryption key rotated"


class CreditEntityType(models.TextChoices):
    PLATFORM = "platform", "Platform"
    AGENCY = "agency", "Agency"
    CLIENT = "client", "Client"


class TransactionType(models.TextChoices):
    ALLOCATION = "allocation", "Allocation"
    DEDUCTION = "deduction", "Deduction"
    REFUND = "refund", "Refund"
    TRANSFER_OUT = "transfer_out", "Transfer out"
    TRANSFER_IN = "transfer_in", "Transfer in"
    PURCHASE = "purchase", "Purchase"
    ADJUSTMENT = "adjustment", "Adjustment"
    REVERSAL = "reversal", "Reversal"
