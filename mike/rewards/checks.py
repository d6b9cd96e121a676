"""System checks of the pipeline's settings."""

from django.conf import settings
from django.core.checks import Error, register


def longest_countdowns() -> dict[str, int]:
    """The longest countdown, in seconds, each task of the pipeline schedules itself with."""
    from giftcards.services.delivery import backoff

    from .tasks import OPT_IN_MAX_RETRIES, opt_in_retry_countdown

    return {
        "card delivery retry": int(backoff(10**6).total_seconds()),
        "opt-in text retry": opt_in_retry_countdown(OPT_IN_MAX_RETRIES - 1),
    }


@register()
def check_countdowns_below_visibility_timeout(app_configs, **kwargs):
    """A Redis (or SQS) broker hands a task to another worker once it has been reserved for the
    visibility timeout, and a task waiting out a countdown counts as reserved: a countdown that
    reaches the timeout runs the task twice."""
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return [
        Error(
            f"The {name} waits up to {seconds} s, not below the broker's visibility timeout "
            f"({timeout} s): the broker would hand the task out twice.",
            hint="Lower DELIVERY_RETRY_MAX_MINUTES or raise CELERY_VISIBILITY_TIMEOUT.",
            id="mike.E101",
        )
        for name, seconds in longest_countdowns().items()
        if seconds >= timeout
    ]
