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
    PURCHASE_PENDING = "purchase_pending", "Provider purchase pending"
    CLAIMED = "claimed", "Claimed"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"


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
    UNDELIVERED = "undelivered", "Reported undelivered"


OPT_OUT_FAILURE_REASONS = [DeliveryFailureReason.OPTED_OUT, DeliveryFailureReason.CARRIER_OPT_OUT]

# Deliveries the sweep still has to finish (a row in one of these states may be retried).
OPEN_DELIVERY_STATUSES = [DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.FAILED]


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
