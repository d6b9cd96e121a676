"""Signing in to the admin: repeated wrong passwords lock out that account from that address
(django-axes), through the proxies Mike trusts; a non-staff account is told the admin is for
staff, not that its password is wrong."""

import pytest
from django.urls import reverse

from tests import factories

PASSWORD = "a-long-and-right-password"
LOGIN = "/admin/login/"


@pytest.fixture
def staff(db):
    user = factories.UserFactory(email="ops@mike.test", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(client, email, password, **extra):
    return client.post(LOGIN, {"username": email, "password": password, "next": "/admin/"}, **extra)


def test_sixty_wrong_passwords_are_not_followed_by_a_sign_in(client, staff, settings):
    for _ in range(60):
        sign_in(client, staff.email, "guess", REMOTE_ADDR="203.0.113.7")

    response = sign_in(client, staff.email, PASSWORD, REMOTE_ADDR="203.0.113.7")

    assert response.status_code == 429
    assert "Too many sign-in attempts" in response.content.decode()
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_account_and_address(client, staff, settings):
    other = factories.UserFactory(email="other@mike.test", is_staff=True)
    other.set_password(PASSWORD)
    other.save()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, staff.email, "guess", REMOTE_ADDR="203.0.113.7")
    assert sign_in(client, staff.email, PASSWORD, REMOTE_ADDR="203.0.113.7").status_code == 429

    # The account from another address, and another account from that address, still sign in.
    assert sign_in(client, staff.email, PASSWORD, REMOTE_ADDR="198.51.100.2").status_code == 302
    client.logout()
    assert sign_in(client, other.email, PASSWORD, REMOTE_ADDR="203.0.113.7").status_code == 302


def test_behind_a_proxy_the_address_is_the_clients_not_the_proxys(client, staff, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, staff.email, "guess", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)

    locked = sign_in(client, staff.email, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    colleague = sign_in(client, staff.email, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.2", **proxy)

    assert locked.status_code == 429
    assert colleague.status_code == 302


def test_a_right_password_resets_the_count(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, staff.email, "guess", REMOTE_ADDR="203.0.113.7")
    assert sign_in(client, staff.email, PASSWORD, REMOTE_ADDR="203.0.113.7").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, staff.email, "guess", REMOTE_ADDR="203.0.113.7")
    assert sign_in(client, staff.email, PASSWORD, REMOTE_ADDR="203.0.113.7").status_code == 302


@pytest.mark.django_db
def test_a_non_staff_account_is_told_the_admin_is_for_staff(client):
    user = factories.UserFactory(email="client.user@example.com", is_staff=False)
    user.set_password(PASSWORD)
    user.save()

    response = sign_in(client, user.email, PASSWORD)

    page = response.content.decode()
    assert response.status_code == 200
    assert "for Mike&#x27;s platform staff" in page or "for Mike's platform staff" in page
    assert "correct email and password" not in page
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_wrong_password_still_gets_the_usual_answer(client):
    response = sign_in(client, "nobody@example.com", "guess")
    assert "correct email" in response.content.decode()
    assert reverse("admin:login") == LOGIN
