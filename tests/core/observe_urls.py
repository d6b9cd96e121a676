"""A page that queues a Celery task, for the request-id tests (tests/core/test_logs.py)."""

import logging

from django.http import HttpResponse
from django.urls import include, path

from mike.celery import app

logger = logging.getLogger("tests.probe")


@app.task(name="tests.core.log_probe")
def log_probe(phone):
    logger.info("probe task texting %s", phone)


def queue_probe(request):
    log_probe.delay("+15551234567")
    return HttpResponse("queued")


def fail(request):
    raise ValueError("bad +15551234567 jane.doe@example.com DEMO-SUMM-STA25-0001")


urlpatterns = [
    path("queue/", queue_probe),
    path("fail/", fail),
    path("", include("mike.urls")),
]
