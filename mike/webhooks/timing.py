"""When the next attempt of a delivery is due, and when its retries end."""

import random
from datetime import datetime, timedelta

from django.conf import settings


def give_up_at(first: datetime) -> datetime:
    return first + timedelta(hours=settings.WEBHOOK_RETRY_HOURS)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s doubled each time, at most
    WEBHOOK_RETRY_MAX_MINUTES, with ±20 % jitter so endpoints that fail together are not all
    retried in the same second."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    capped = min(base, settings.WEBHOOK_RETRY_MAX_MINUTES * 60)
    return timedelta(seconds=capped * random.uniform(0.8, 1.2))
