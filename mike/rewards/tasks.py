"""Every Celery task of the reward pipeline. Tasks are triggers: they take ids, re-read the
database and call the pipeline, and they are idempotent (the rows are the truth).

Each keeps the name it was registered under when it lived in its domain app
(`giftcards.tasks.…`, `recipients.tasks.…`, `calls.tasks.…`): messages already queued and the beat
schedule (CELERY_BEAT_SCHEDULE) find tasks by name, not by module.
"""

import logging

from celery import shared_task
from django.utils import timezone

from campaigns.daily_counts import roll_up_daily_counts as roll_up
from giftcards.alerts import send_staff_alerts
from giftcards.models import GiftCardDelivery
from giftcards.services.delivery import DeliveryOutcome
from giftcards.services.retries import schedule_attempt
from mike.core.sms import SmsError
from recipients.models import Recipient
from recipients.services import request_opt_in

from . import crm_events, retention, sweeps
from .conditions import apply_time_delays
from .delivery import send_delivery

logger = logging.getLogger(__name__)

OPT_IN_MAX_RETRIES = 5


def opt_in_retry_countdown(retries: int) -> int:
    """Seconds before the opt-in text is tried again after its `retries`-th retryable failure:
    30 s, 1, 2, 4 and 8 min."""
    return 30 * 2**retries


@shared_task(name="giftcards.tasks.deliver_gift_card", acks_late=True)
def deliver_gift_card(delivery_id: str, retry: bool = False) -> str:
    """Send the delivery's card (mike.rewards.delivery.send_delivery) and, after a failure that may
    be retried, queue the next attempt with its backoff (below the broker's visibility timeout:
    mike.rewards.checks). The sweep queues it again should that message be lost."""
    outcome = send_delivery(delivery_id, early=retry)
    if outcome == DeliveryOutcome.RETRY:
        delivery = GiftCardDelivery.objects.only("next_attempt_at").get(pk=delivery_id)
        countdown = max(0, int((delivery.next_attempt_at - timezone.now()).total_seconds()))
        schedule_attempt(delivery_id, at=delivery.next_attempt_at)
        deliver_gift_card.apply_async((str(delivery_id),), {"retry": True}, countdown=countdown)
    return outcome


@shared_task(name="recipients.tasks.send_opt_in_sms", bind=True, max_retries=OPT_IN_MAX_RETRIES)
def send_opt_in_sms(self, recipient_id, force=False, reask=False, call_session_id=None):
    """Text the opt-in question (see recipients.services.request_opt_in for when nothing is sent;
    `reask` asks again after the opt-in expired; `call_session_id` names the call an agent sent
    it from).

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
        log = request_opt_in(
            recipient=recipient, force=force, reask=reask, call_session_id=call_session_id
        )
    except SmsError as exc:
        if exc.retryable and self.request.retries < self.max_retries:
            countdown = opt_in_retry_countdown(self.request.retries)
            raise self.retry(exc=exc, countdown=countdown) from exc
        logger.warning("Opt-in SMS to recipient %s failed for good: %s", recipient_id, exc)
        return None
    return str(log.pk) if log is not None else None


@shared_task(name="giftcards.tasks.sweep_stuck_work", acks_late=True)
def sweep_stuck_work() -> dict:
    """Re-queue what should have happened but did not (mike.rewards.sweeps)."""
    return sweeps.sweep_stuck_work()


@shared_task(name="giftcards.tasks.send_stock_alerts", acks_late=True)
def send_stock_alerts() -> dict:
    """Email staff about low stock, low credit and failed provisioning (giftcards.alerts). Beat
    runs it every 15 minutes and a reward finding no card queues it at once. Idempotent: a
    problem already alerted is not sent again before ALERT_REPEAT_HOURS. Not retried here: a
    failed send records nothing, so the next beat sends it."""
    return send_staff_alerts().as_dict()


@shared_task(name="calls.tasks.apply_time_delay_conditions")
def apply_time_delay_conditions() -> int:
    """Meet every time-delay condition whose delay has passed. Idempotent: a re-run (or two beats
    at once) meets nothing twice; returns how many conditions this run met."""
    return apply_time_delays()


@shared_task(name="campaigns.tasks.roll_up_daily_counts")
def roll_up_daily_counts() -> int:
    """Roll the days that are over into the dashboards' daily counts (campaigns.daily_counts).
    Beat runs it hourly. Idempotent (a day is rolled up once); a missed run only means the
    dashboards count a few more days from the events themselves."""
    return roll_up()


@shared_task(name="crm.tasks.process_crm_event", acks_late=True)
def process_crm_event(event_id: str) -> str | None:
    """Match a stored CRM event and meet its condition (mike.rewards.crm_events). Idempotent: an
    event already processed is left as it is. Should this message be lost, the sweep queues the
    event again."""
    return crm_events.process_crm_event(event_id)


@shared_task(name="crm.tasks.sweep_crm_events", acks_late=True)
def sweep_crm_events() -> int:
    """Queue every CRM event received but never processed (its task lost). Beat runs it every
    few minutes; idempotent (processing skips an event already done)."""
    return crm_events.sweep_crm_events()


@shared_task(name="mike.rewards.tasks.purge_expired_personal_data", acks_late=True)
def purge_expired_personal_data() -> dict:
    """Blank texts' bodies, recordings and raw CRM payloads past their retention age
    (mike.rewards.retention); daily from beat, idempotent."""
    purged = retention.purge_expired_personal_data()
    logger.info("Retention purge: %s", purged)
    return purged
