"""The webhook tasks: triggers over the rows (mike.webhooks.sending), idempotent."""

from celery import shared_task

from . import sending


@shared_task(name="mike.webhooks.tasks.send_webhook_delivery", acks_late=True)
def send_webhook_delivery(delivery_id: str) -> str:
    """One attempt of the delivery if it is due and nobody else holds it. The next attempt after
    a failure is the sweep's to queue, when it is due: no countdown waits in the broker."""
    return sending.send(delivery_id)


@shared_task(name="mike.webhooks.tasks.sweep_webhook_deliveries", acks_late=True)
def sweep_webhook_deliveries() -> dict:
    """Queue due retries and lost sends, recover deliveries whose worker died, disable
    subscriptions failing for too long (beat, every WEBHOOK_SWEEP_SECONDS)."""
    return sending.sweep()
