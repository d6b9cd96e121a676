"""What the gift card admin pages share."""

TIMESTAMPS = ("id", "created_at", "updated_at")
POOL_COUNTERS = (
    "total_cards",
    "available_cards",
    "claimed_cards",
    "delivered_cards",
    "failed_cards",
)
