"""`make serve`'s first step: refuse to start the production shape on the demo's parts.

The embedded demo (`make run`) runs on SQLite with tasks in-process; `make serve` starts gunicorn
workers, a Celery worker and beat as separate processes, which need a database they can share
under concurrent writes (PostgreSQL) and a broker between them (REDIS_URL, or CELERY_BROKER_URL).
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def serving_problems() -> list[str]:
    """What stops this configuration from serving as separate processes (empty when nothing)."""
    problems = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        problems.append(
            f"DATABASE_URL must point at PostgreSQL (postgres://user@host:5432/name); the database "
            f"is {engine.rsplit('.', 1)[-1]}. SQLite is for the embedded demo: `make run`."
        )
    if not settings.REDIS_URL:
        problems.append(
            "REDIS_URL is not set (redis://127.0.0.1:6379/0): the cache and rate limits must be "
            "shared by every web process."
        )
    if settings.CELERY_BROKER_URL.startswith("memory://"):
        problems.append(
            "No Celery broker: set REDIS_URL (or CELERY_BROKER_URL) so the worker and beat get "
            "the web processes' tasks."
        )
    if settings.CELERY_TASK_ALWAYS_EAGER:
        problems.append(
            "CELERY_TASK_ALWAYS_EAGER is on: web processes would run every task themselves; "
            "unset it (or set False) to serve."
        )
    return problems


class Command(BaseCommand):
    help = "Refuse to serve (make serve) unless the database is PostgreSQL and a broker is set."

    def handle(self, *args, **options):
        problems = serving_problems()
        if problems:
            raise CommandError(
                "make serve needs PostgreSQL and Redis:\n" + "\n".join(f"  - {p}" for p in problems)
            )
        self.stdout.write("Serving on PostgreSQL with a Celery broker.")
