"""Signing in to /app/: the lockout, where each role lands, logout, password reset, and an htmx
request whose session ended."""

import re

import pytest
from django.core import mail

from tests.factories_accounts import TEST_PASSWORD

LOGIN = "/app/login/"


def sign_in(client, email, password=TEST_PASSWORD, **extra):
    return client.post(LOGIN, {"username": email, "password": password}, **extra)


def test_login_page_renders(client, db):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert "Sign in" in response.content.decode()


@pytest.mark.parametrize(
    ("who", "lands_on"),
    [
        ("client_admin", "/app/"),
        ("client_user", "/app/"),
        ("agency_admin", "/app/clients/"),
        ("agency_user", "/app/clients/"),
        ("staff", "/app/clients/"),
        ("agent", "/app/calls/"),
    ],
)
def test_each_role_lands_on_its_page(client, people, who, lands_on):
    user = getattr(people, who)
    response = sign_in(client, user.email)
    assert response.status_code == 302
    assert response["Location"] == lands_on
    assert client.get(response["Location"], follow=True).status_code == 200


def test_client_user_has_their_client_selected(client, people, tenants):
    sign_in(client, people.client_user.email)
    assert client.session["dashboard_client"] == str(tenants.client_a.pk)


def test_wrong_password_says_so_and_does_not_sign_in(client, people):
    response = sign_in(client, people.client_user.email, "wrong")
    assert response.status_code == 200
    assert "correct email" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_repeated_failures_lock_out_that_account_from_that_address(client, people, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, people.client_user.email, "guess", REMOTE_ADDR="203.0.113.9")

    locked = sign_in(client, people.client_user.email, REMOTE_ADDR="203.0.113.9")
    elsewhere = sign_in(client, people.client_user.email, REMOTE_ADDR="198.51.100.2")

    assert locked.status_code == 429
    assert elsewhere.status_code == 302


def test_the_admin_and_the_dashboard_share_one_lockout(client, people, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            "/admin/login/",
            {"username": people.staff.email, "password": "guess"},
            REMOTE_ADDR="203.0.113.10",
        )
    assert sign_in(client, people.staff.email, REMOTE_ADDR="203.0.113.10").status_code == 429


def test_non_staff_at_the_admin_is_sent_to_the_dashboard(client, people):
    response = client.post(
        "/admin/login/", {"username": people.client_user.email, "password": TEST_PASSWORD}
    )
    assert "/app/" in response.content.decode()


def test_logout_ends_the_session(client, people):
    client.force_login(people.client_user)
    response = client.post("/app/logout/")
    assert response.status_code == 302
    assert client.get("/app/").status_code == 302


def test_anonymous_is_sent_to_login_with_next(client, db):
    response = client.get("/app/")
    assert response.status_code == 302
    assert response["Location"] == "/app/login/?next=/app/"


def test_htmx_request_after_session_ended_gets_a_full_page_redirect(client, db):
    response = client.get(
        "/app/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/app/?days=30"
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/app/login/?next=/app/?days=30"
    assert b"<form" not in response.content


def test_password_reset_mails_a_link_that_sets_the_password(client, people):
    response = client.post("/app/password-reset/", {"email": people.client_user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/app/reset/\S+/)", mail.outbox[0].body).group(1)

    form = client.get(link, follow=True)
    assert form.status_code == 200
    set_url = form.redirect_chain[-1][0]
    done = client.post(
        set_url,
        {"new_password1": "a-new-long-password-9", "new_password2": "a-new-long-password-9"},
    )
    assert done.status_code == 302
    assert sign_in(client, people.client_user.email, "a-new-long-password-9").status_code == 302


def test_password_reset_says_the_same_for_an_unknown_address(client, db):
    response = client.post("/app/password-reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 0


def test_agency_user_switches_client_and_back_to_all(client, people, tenants):
    client.force_login(people.agency_user)
    client.post("/app/switch/", {"client": str(tenants.client_a2.pk), "next": "/app/"})
    assert client.session["dashboard_client"] == str(tenants.client_a2.pk)
    client.post("/app/switch/", {"client": "all", "next": "/app/"})
    assert client.session["dashboard_client"] == "all"


def test_switching_to_another_agencys_client_is_404(client, people, tenants):
    client.force_login(people.agency_user)
    response = client.post("/app/switch/", {"client": str(tenants.client_b.pk)})
    assert response.status_code == 404


def test_switch_from_an_object_page_goes_to_its_section_list(client, people, tenants):
    client.force_login(people.agency_user)
    response = client.post(
        "/app/switch/",
        {"client": str(tenants.client_a.pk), "next": "/app/campaigns/0b1c/overview/"},
    )
    assert response["Location"] == "/app/campaigns/"


def test_an_agent_is_kept_to_the_call_pages(client, people):
    client.force_login(people.agent)
    assert client.get("/app/recipients/")["Location"] == "/app/calls/"
    # Their landing page is the call console itself.
    assert client.get("/app/calls/").status_code == 200
    assert client.get("/app/calls/log/").status_code == 200
    assert client.post("/app/approvals/approve/").status_code in (403, 405)
