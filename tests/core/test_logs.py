"""Structured logs: a JSON line per request and per task, one request id across both, masking."""

import io
import json
import logging

import pytest

from mike.core.logs import JsonFormatter, MaskingFilter, RequestIdFilter
from mike.core.masking import mask


@pytest.fixture
def json_lines():
    """Every log line, formatted as the production handler formats it (JSON, masked)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    saved = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(saved)


@pytest.mark.django_db
def test_a_request_writes_one_json_line_with_its_fields(client, json_lines):
    from tests.factories import UserFactory

    user = UserFactory(is_staff=True)
    client.force_login(user)
    response = client.get("/app/", HTTP_X_REQUEST_ID="edge-1234abcd")
    assert response["X-Request-ID"] == "edge-1234abcd"
    lines = [line for line in json_lines() if line["logger"] == "mike.request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "GET" and line["path"] == "/app/"
    assert line["status"] == response.status_code
    assert line["duration_ms"] >= 0
    assert line["user_id"] == str(user.pk)
    assert line["client_ip"] == "127.0.0.1"
    assert line["request_id"] == "edge-1234abcd"
    assert line["level"] == "INFO" and "time" in line


def test_an_invalid_request_id_is_replaced(client, json_lines):
    response = client.get("/healthz/", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert len(response["X-Request-ID"]) == 32
    assert response["X-Request-ID"] != "bad id\nwith newline"


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.core.observe_urls")
def test_a_task_queued_by_a_request_logs_the_requests_id(client, json_lines):
    response = client.get("/queue/", HTTP_X_REQUEST_ID="req-5678efgh")
    assert response.status_code == 200
    lines = json_lines()
    probe = [line for line in lines if line["logger"] == "tests.probe"]
    task = [line for line in lines if line["logger"] == "mike.task"]
    assert probe and probe[0]["request_id"] == "req-5678efgh"
    assert "+15551234567" not in probe[0]["message"]
    assert task[0]["task"] == "tests.core.log_probe"
    assert task[0]["state"] == "SUCCESS" and task[0]["runtime_ms"] >= 0
    assert task[0]["request_id"] == "req-5678efgh" and task[0]["task_id"]


def test_the_request_id_travels_in_the_task_message_headers():
    from celery import signals

    from mike.core.logs import request_id

    headers = {}
    token = request_id.set("req-headers1")
    try:
        signals.before_task_publish.send(sender="x", headers=headers, body=None)
    finally:
        request_id.reset(token)
    assert headers["request_id"] == "req-headers1"


@pytest.mark.django_db
def test_the_crm_webhook_token_is_masked_in_the_logged_path(client, json_lines):
    client.post("/hooks/crm/secret-token-abc123/", data="{}", content_type="application/json")
    lines = [line for line in json_lines() if line["logger"] == "mike.request"]
    assert "secret-token-abc123" not in json.dumps(lines)


@pytest.mark.parametrize(
    "text, hidden",
    [
        ("from +15551234567", "5551234567"),
        ("call (555) 123-4567", "123-4567"),
        ("Code: DEMO-SUMM-STA25-0001. PIN: 9876", "DEMO-SUMM"),
        ("Code: DEMO-SUMM-STA25-0001. PIN: 9876", "9876"),
        ('{"code": "TILLO-00000001"}', "TILLO-0"),
        ("card TEST-7KQ4-M2XD sent", "7KQ4"),
        ("redeem 7KQ4-M2XD-9P", "M2XD"),
        ("redeem 7KQ4M2XD9P", "7KQ4M2XD9P"),
        ("number 4111 1111 1111 1111", "1111 1111"),
        ("to jane.doe@example.com", "jane.doe"),
    ],
)
def test_phones_codes_and_emails_are_masked(text, hidden):
    assert hidden not in mask(text)


def test_ids_times_and_addresses_are_kept():
    text = "id 123e4567-e89b-12d3-a456-426614174000 at 2026-12-03T06:38:33+00:00 from 203.0.113.5"
    assert mask(text) == text


def test_a_real_worker_runs_a_queued_task_under_the_request_id_that_queued_it():
    """Through the broker: the id leaves in the message headers and comes back in the worker."""
    import time

    from celery.contrib.testing.worker import start_worker

    from mike.celery import app
    from mike.core.logs import request_id

    seen = []

    @app.task(name="tests.core.remember_request_id")
    def remember():
        seen.append(request_id.get())

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="threads", perform_ping_check=False, loglevel="WARNING"):
            token = request_id.set("req-worker42")
            try:
                remember.delay()
            finally:
                request_id.reset(token)
            deadline = time.monotonic() + 20
            while not seen and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        app.conf.task_always_eager = saved
        # The worker's shutdown closes the app's connection and producer pools; later tests
        # that publish (the real-worker and broker tests) need fresh ones, as after a fork.
        from kombu import pools

        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None
    assert seen == ["req-worker42"]
