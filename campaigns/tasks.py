"""Celery tasks of the campaigns app: triggers that call its modules, idempotent."""

from celery import shared_task

from .daily_counts import roll_up_daily_counts


@shared_task(name="campaigns.tasks.roll_up_daily_counts")
def roll_up_daily_counts_task() -> int:
    """Roll up the days that are over into DailyCount (campaigns.daily_counts). Beat runs it
    hourly; a missed run only means the dashboards count a few more events themselves."""
    return roll_up_daily_counts()
