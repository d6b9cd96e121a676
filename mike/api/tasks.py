from celery import shared_task

from .idempotency import purge_expired


@shared_task
def purge_idempotency_records() -> int:
    """Forget idempotency keys older than IDEMPOTENCY_KEY_TTL_HOURS."""
    return purge_expired()
