"""The Celery application. Settings come from Django's settings, prefixed CELERY_."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mike.settings")

app = Celery("mike")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Health and observability: request ids carried into tasks, a log line per task.
import mike.core.logs  # noqa: E402, F401
