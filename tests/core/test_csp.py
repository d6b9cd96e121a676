"""Every page family answers with the Content Security Policy (django-csp, mike/settings.py)."""

import pytest

from mike.accounts.models import Role
from mike.accounts.services import grant_role
from tests import factories

POLICY = (
    "default-src 'self'",
    "img-src 'self' data: https:",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "base-uri 'self'",
    "object-src 'none'",
)


def directives(response):
    header = response["Content-Security-Policy"]
    return {part.strip().split(" ", 1)[0]: part.strip() for part in header.split(";")}


def assert_policy(response):
    found = directives(response)
    for directive in POLICY:
        assert found[directive.split(" ", 1)[0]] == directive
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/app/login/", "/redeem/", "/admin/login/", "/api/v1/campaigns/", "/api/v1/schema/"],
)
def test_anonymous_pages_carry_the_policy(client, path):
    assert_policy(client.get(path))


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/app/", "/app/recipients/", "/app/campaigns/"])
def test_dashboard_pages_carry_the_policy(client, path):
    user = factories.UserFactory()
    grant_role(user=user, role=Role.CLIENT_ADMIN, organization=factories.ClientFactory())
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    assert_policy(response)


@pytest.mark.django_db
def test_admin_pages_carry_the_policy(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    for path in ["/admin/", "/admin/giftcards/giftcard/", "/admin/campaigns/campaign/add/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert_policy(response)


@pytest.mark.django_db
def test_the_api_docs_inline_script_and_style_carry_the_nonce_the_header_names(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    script_src = directives(response)["script-src"]
    nonce = script_src.split("'nonce-")[1].split("'")[0]
    body = response.content.decode()
    assert f'<script nonce="{nonce}">' in body
    assert f'<style nonce="{nonce}">' in body
    assert f"'nonce-{nonce}'" in directives(response)["style-src"]
    assert (
        client.get("/api/v1/docs/")["Content-Security-Policy"]
        != response["Content-Security-Policy"]
    )  # a fresh nonce per answer


def test_the_policy_can_be_sent_report_only(tmp_path):
    from tests.core.test_settings import run

    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CONTENT_SECURITY_POLICY, sorted(s.CONTENT_SECURITY_POLICY_REPORT_ONLY['DIRECTIVES']))"
    )
    result = run(code, {"CSP_REPORT_ONLY": "True", "CSP_REPORT_URI": "https://r.example/csp"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("None ") and "'report-uri'" in result.stdout
