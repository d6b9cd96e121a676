"""How long a session lasts: staff sessions end when the browser closes and a fixed time after
signing in; dashboard users' last DASHBOARD_SESSION_DAYS."""

import time

import pytest
from django.urls import reverse

from mike.accounts.sessions import ENDS_AT_KEY
from tests import factories
from tests.factories_accounts import TEST_PASSWORD


@pytest.fixture
def staff(db):
    return factories.UserFactory(email="ops@mike.test", is_staff=True)


def _session(client):
    return client.session


def test_a_staff_session_ends_with_the_browser_and_after_the_staff_age(client, staff, settings):
    settings.STAFF_SESSION_MINUTES = 90
    before = time.time()

    client.post("/admin/login/", {"username": staff.email, "password": TEST_PASSWORD})

    session = _session(client)
    assert session["_auth_user_id"] == str(staff.pk)
    assert session.get_expire_at_browser_close()
    assert int(before) + 90 * 60 <= session[ENDS_AT_KEY] <= time.time() + 90 * 60
    assert client.cookies[settings.SESSION_COOKIE_NAME]["expires"] == ""


def test_a_staff_session_past_its_end_is_signed_out(client, staff):
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
    session = _session(client)
    session[ENDS_AT_KEY] = int(time.time()) - 1
    session.save()

    response = client.get("/admin/")

    assert response["Location"].startswith(reverse("admin:login"))
    assert "_auth_user_id" not in _session(client)


def test_a_dashboard_session_lasts_the_configured_days(client, db, settings):
    settings.DASHBOARD_SESSION_DAYS = 3
    user = factories.UserFactory(email="someone@client.test")

    client.post("/app/login/", {"username": user.email, "password": TEST_PASSWORD})

    session = _session(client)
    assert session["_auth_user_id"] == str(user.pk)
    assert not session.get_expire_at_browser_close()
    assert session.get_expiry_age() == 3 * 24 * 3600
    assert ENDS_AT_KEY not in session
    assert client.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 3 * 24 * 3600


def test_staff_signing_in_on_the_dashboard_get_the_staff_session(client, staff):
    client.post("/app/login/", {"username": staff.email, "password": TEST_PASSWORD})

    session = _session(client)
    assert session.get_expire_at_browser_close()
    assert ENDS_AT_KEY in session
