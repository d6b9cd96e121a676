"""Error reports reach a Sentry server (a local fake) without personal data."""

import gzip
import json

import pytest
import sentry_sdk

from mike.core.sentry import init_sentry


@pytest.fixture
def sentry_server(httpserver):
    received = []

    def handle(request):
        from werkzeug import Response

        body = request.get_data()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        received.append(body.decode())
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/api/1/envelope/", method="POST").respond_with_handler(handle)
    init_sentry(
        dsn=f"http://publickey@127.0.0.1:{httpserver.port}/1",
        environment="test",
        release="mike@test",
    )
    yield received
    sentry_sdk.flush(timeout=2)
    sentry_sdk.get_client().close()
    sentry_sdk.init()


@pytest.mark.django_db
@pytest.mark.urls("tests.core.observe_urls")
def test_an_exception_in_a_view_is_reported_without_personal_data(client, sentry_server):
    client.raise_request_exception = False
    response = client.post(
        "/fail/?phone=%2B15551234567",
        {"phone": "+15551234567", "email": "jane.doe@example.com", "code": "7KQ4M2XD9P"},
    )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=5)
    events = [body for body in sentry_server if '"exception"' in body]
    assert events, sentry_server
    body = events[0]
    assert "ValueError" in body
    assert '"environment":"test"' in body.replace(" ", "") or '"environment": "test"' in body
    for secret in ("5551234567", "jane.doe", "DEMO-SUMM-STA25-0001", "7KQ4M2XD9P"):
        assert secret not in body, secret
    envelope_items = [json.loads(line) for line in body.splitlines() if line.startswith("{")]
    event = next(item for item in envelope_items if "exception" in item)
    assert "user" not in event or not event["user"].get("ip_address")
