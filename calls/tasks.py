"""Periodic call-condition work, run by Celery beat (see CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from . import services


@shared_task
def apply_time_delay_conditions() -> int:
    """Meet every time-delay condition whose delay has passed. Idempotent: a re-run (or two beats
    at once) meets nothing twice; returns how many conditions this run met."""
    return services.apply_time_delays()
