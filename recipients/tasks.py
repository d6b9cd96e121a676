"""Celery tasks of the recipients app: thin, take ids, call a service, safe to run twice."""

import logging

from celery import shared_task

from mike.core.sms import SmsError

from . import services
from .models import Recipient

logger = logging.getLogger(__name__)

OPT_IN_MAX_RETRIES = 5


@shared_task(bind=True, max_retries=OPT_IN_MAX_RETRIES)
def send_opt_in_sms(self, recipient_id, force=False, reask=False):
    """Text the opt-in question (see `services.request_opt_in` for when nothing is sent; `reask`
    asks again after the opt-in expired).

    A retryable failure (Twilio 5xx or 429, a timeout) is retried with exponential backoff,
    30 s to 8 min, up to OPT_IN_MAX_RETRIES times; each failed attempt is its own `failed` log
    row, so the last one is what the admin sees once the retries are spent."""
    recipient = Recipient.objects.filter(pk=recipient_id).first()
    if recipient is None:
        logger.info(
            "Opt-in for recipient %s skipped: the recipient no longer exists.", recipient_id
        )
        return None
    try:
        log = services.request_opt_in(recipient=recipient, force=force, reask=reask)
    except SmsError as exc:
        if exc.retryable and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc
        logger.warning("Opt-in SMS to recipient %s failed for good: %s", recipient_id, exc)
        return None
    return str(log.pk) if log is not None else None
