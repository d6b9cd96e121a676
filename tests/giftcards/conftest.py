"""Fixtures of the gift card tests."""

import pytest

from tests.fakes.tillo import API_KEY, SECRET, FakeTillo


@pytest.fixture
def tillo(httpserver, settings):
    """A local fake Tillo, with the provider settings pointing at it (short timeout, one retry)."""
    fake = FakeTillo()
    httpserver.expect_request("/api/v2/digital/issue", method="POST").respond_with_handler(
        fake.handle
    )
    settings.TILLO_BASE_URL = httpserver.url_for("/")
    settings.TILLO_API_KEY = API_KEY
    settings.TILLO_SECRET = SECRET
    settings.TILLO_TIMEOUT_SECONDS = 0.5
    settings.TILLO_MAX_RETRIES = 1
    return fake
