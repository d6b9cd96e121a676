"""Proxy trust is configured, not assumed: TRUSTED_PROXY_COUNT alone decides whether the scheme,
host and client address a proxy forwards are believed, for the HTTPS redirect, the rate limits
and lockouts, and the URL Twilio signatures are checked against.

The settings derive from the environment when they load, so each case runs in a fresh process
with production settings (DEBUG off, SECURE_SSL_REDIRECT on), as a server would.
"""

import json

import pytest
from twilio.request_validator import RequestValidator

from tests.core.test_settings import production, real_secrets, run

TOKEN = "proxy-trust-auth-token"
PUBLIC_URL = "https://mike.example.com/hooks/twilio/voice/"
PARAMS = {"CallSid": "CA0123456789abcdef0123456789abcdef", "From": "+15555550123"}

PROBE = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.test import RequestFactory
from mike.core.clientip import client_ip, login_client_ip
from mike.core.webhooks import twilio_signature_is_valid

headers = json.loads(sys.argv[1])
params = json.loads(sys.argv[2])

def request(method="get", **extra):
    factory = RequestFactory()
    make = factory.post if method == "post" else factory.get
    data = params if method == "post" else None
    return make("/hooks/twilio/voice/", data=data, REMOTE_ADDR="10.0.0.2", **headers, **extra)

page = SecurityMiddleware(lambda r: HttpResponse("page"))(request())
webhook = request("post")
print(json.dumps({
    "redirect": page.status_code == 301,
    "location": page.get("Location"),
    "scheme": request().scheme,
    "url": webhook.build_absolute_uri(),
    "signature_valid": twilio_signature_is_valid(webhook),
    "client_ip": client_ip(request()),
    "axes_ip": login_client_ip(request()),
    "use_x_forwarded_host": settings.USE_X_FORWARDED_HOST,
    "secure_proxy_ssl_header": settings.SECURE_PROXY_SSL_HEADER,
}))
"""


def probe(tmp_path, *, proxies: int, headers: dict) -> dict:
    env = production(
        tmp_path,
        **real_secrets(),
        ALLOWED_HOSTS="mike.example.com,testserver",
        SECURE_SSL_REDIRECT="True",
        TRUSTED_PROXY_COUNT=str(proxies),
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN=TOKEN,
    )
    result = run("", env, args=["-c", PROBE, json.dumps(headers), json.dumps(PARAMS)])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def forwarded(signature: str) -> dict:
    """What nginx (deploy/nginx/mike.conf) sends on for a request Twilio made over HTTPS."""
    return {
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_HOST": "mike.example.com",
        "HTTP_X_FORWARDED_FOR": "198.51.100.7, 203.0.113.9",
        "HTTP_X_TWILIO_SIGNATURE": signature,
    }


def public_signature() -> str:
    return RequestValidator(TOKEN).compute_signature(PUBLIC_URL, PARAMS)


def test_with_no_trusted_proxy_a_clients_forwarded_headers_are_ignored(tmp_path):
    """A client connecting directly cannot skip the HTTPS redirect with its own
    X-Forwarded-Proto, choose the host of the URL a Twilio signature is checked against, nor its
    address for rate limits and lockouts."""
    seen = probe(tmp_path, proxies=0, headers=forwarded(public_signature()))

    assert seen["secure_proxy_ssl_header"] is None
    assert seen["use_x_forwarded_host"] is False
    assert seen["scheme"] == "http"
    assert seen["redirect"] is True
    assert seen["location"].startswith("https://testserver/")
    assert seen["url"] == "http://testserver/hooks/twilio/voice/"
    assert seen["signature_valid"] is False
    assert (seen["client_ip"], seen["axes_ip"]) == ("10.0.0.2", "10.0.0.2")


def test_with_one_trusted_proxy_its_scheme_host_and_client_address_are_believed(tmp_path):
    """Behind one proxy the scheme it saw is honoured (no redirect loop), the signature is checked
    against the public URL Twilio called, and the client is the address the proxy appended."""
    seen = probe(tmp_path, proxies=1, headers=forwarded(public_signature()))

    assert seen["secure_proxy_ssl_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert seen["use_x_forwarded_host"] is True
    assert seen["scheme"] == "https"
    assert seen["redirect"] is False
    assert seen["url"] == PUBLIC_URL
    assert seen["signature_valid"] is True
    # The rightmost entry is the one the proxy appended; the one to its left is the client's say.
    assert (seen["client_ip"], seen["axes_ip"]) == ("203.0.113.9", "203.0.113.9")


@pytest.mark.parametrize("proxies", [0, 1])
def test_plain_http_through_the_proxy_is_still_redirected(tmp_path, proxies):
    """A request the proxy received over plain HTTP is redirected to HTTPS in both cases."""
    headers = {**forwarded(public_signature()), "HTTP_X_FORWARDED_PROTO": "http"}
    seen = probe(tmp_path, proxies=proxies, headers=headers)

    assert seen["scheme"] == "http"
    assert seen["redirect"] is True


def test_a_signature_over_the_internal_url_fails_behind_the_proxy(tmp_path):
    """Behind a proxy the URL checked is the public one: a signature over the address gunicorn
    listens on (what a request that bypassed the proxy would sign) does not pass."""
    internal = RequestValidator(TOKEN).compute_signature(
        "http://testserver/hooks/twilio/voice/", PARAMS
    )
    seen = probe(tmp_path, proxies=1, headers=forwarded(internal))

    assert seen["signature_valid"] is False
