import threading
import time

import pytest
from django.core.cache import cache
from django.test import Client
from werkzeug import Request

from mike.core import sms
from tests.fakes import twilio as fake_twilio
from tests.fakes.tillo import API_KEY, SECRET, FakeTillo
from tests.two_factor import pass_second_factor


@pytest.fixture(autouse=True)
def _clean_cache():
    """Rate limits and other cached state live in a test-only Redis database; start empty."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _staff_pass_second_factor(request, monkeypatch):
    """Staff signed in by the test client (`force_login`, `login`, pytest-django's admin_client)
    have an authenticator app and a session that answered it, as after the admin's second step:
    the tests of other pages are not about it. Tests of the second step itself are marked
    `second_factor_as_is` (tests/accounts/test_two_factor*.py)."""
    if request.node.get_closest_marker("second_factor_as_is"):
        return
    signed_in = Client._login

    def _login(self, user, backend=None):
        signed_in(self, user, backend)
        if user.is_staff or user.is_superuser:
            pass_second_factor(self, user)

    monkeypatch.setattr(Client, "_login", _login)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path_factory):
    """Uploaded files (import jobs' files) go to a temporary folder, never the checkout's media/."""
    settings.MEDIA_ROOT = str(tmp_path_factory.mktemp("media"))


@pytest.fixture(autouse=True)
def _twilio_credentials(settings):
    """Webhooks are signed with this token in every test; outbound SMS go to the locmem outbox
    unless a test asks for the fake Twilio server."""
    settings.TWILIO_ACCOUNT_SID = fake_twilio.ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = fake_twilio.AUTH_TOKEN
    settings.TWILIO_FROM_NUMBER = fake_twilio.FROM_NUMBER
    settings.SMS_BACKEND = "locmem"
    sms.clear_outbox()
    yield
    sms.clear_outbox()


@pytest.fixture
def sms_outbox():
    """The messages the locmem backend 'sent', in order."""
    return sms.outbox


@pytest.fixture
def twilio_server(httpserver, settings):
    """A local fake Twilio REST API; the real twilio client is pointed at it."""
    fake = fake_twilio.FakeTwilio(url=httpserver.url_for("/"))
    fake.register(httpserver)
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = httpserver.url_for("/").rstrip("/")
    settings.TWILIO_TIMEOUT_SECONDS = 3
    return fake


@pytest.fixture
def late_twilio(httpserver, settings):
    """Twilio taking the text but answering after the client gave up (a read timeout)."""
    fake = fake_twilio.FakeTwilio(url=httpserver.url_for("/"))
    answered = threading.Event()

    def handler(request: Request):
        response = fake.handle(request)  # the text is taken at once...
        time.sleep(1.5)  # ...and the answer comes too late
        answered.set()
        return response

    fake.register(httpserver, send_handler=handler)
    fake.answered = answered
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = httpserver.url_for("/").rstrip("/")
    settings.TWILIO_TIMEOUT_SECONDS = 0.5
    return fake


@pytest.fixture
def twilio_numbers(httpserver, settings):
    """A local fake of Twilio's phone-number resources (search, buy, update, release), on the
    platform's test account; `add_account` adds an organization's own. Texts still go to the
    locmem outbox unless the test also asks for `twilio_server`."""
    fake = fake_twilio.FakeTwilioNumbers()
    fake.register(httpserver)
    settings.TWILIO_API_BASE_URL = httpserver.url_for("/").rstrip("/")
    settings.TWILIO_TIMEOUT_SECONDS = 3
    settings.SITE_URL = "https://mike.example.com"
    return fake


@pytest.fixture
def twilio_post(client):
    """POST a Twilio webhook, signed the way Twilio signs it (URL + sorted params)."""

    def post(path: str, params: dict, *, signature: str | None = None, **extra):
        url = f"http://testserver{path}"
        sig = fake_twilio.signature(url, params) if signature is None else signature
        return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=sig, **extra)

    return post


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
