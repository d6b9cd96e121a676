"""client_ip: the client's address through exactly TRUSTED_PROXY_COUNT proxies, never one more,
and a fixed key instead of an error when there is none."""

import pytest
from django.test import RequestFactory

from mike.core.clientip import UNKNOWN, client_ip


def request_from(remote="10.0.0.2", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        # No proxy: the header is the client's own writing and is ignored.
        (0, "203.0.113.5", None, "203.0.113.5"),
        (0, "203.0.113.5", "198.51.100.7", "203.0.113.5"),
        # One proxy: the entry it appended, whatever the client put in front.
        (1, "10.0.0.2", "203.0.113.5", "203.0.113.5"),
        (1, "10.0.0.2", "192.0.2.1, 203.0.113.5", "203.0.113.5"),
        (1, "10.0.0.2", " 192.0.2.1 ,203.0.113.5 ", "203.0.113.5"),
        # Two proxies: the entry the outer one appended (the inner one appended the outer's).
        (2, "10.0.0.2", "192.0.2.1, 203.0.113.5, 198.18.0.1", "203.0.113.5"),
        # Fewer entries than proxies: all were written by proxies, the leftmost saw the client.
        (2, "10.0.0.2", "203.0.113.5", "203.0.113.5"),
        (3, "10.0.0.2", "203.0.113.5, 198.18.0.1", "203.0.113.5"),
        # No header although a proxy is configured: the connection's address.
        (1, "203.0.113.5", None, "203.0.113.5"),
        (1, "203.0.113.5", "", "203.0.113.5"),
        (1, "203.0.113.5", " , ", "203.0.113.5"),
        # The trusted entry is not an address: fall back to REMOTE_ADDR, never further left.
        (1, "10.0.0.2", "203.0.113.5, garbage", "10.0.0.2"),
        (1, "10.0.0.2", "203.0.113.5, unknown", "10.0.0.2"),
        # Ports some proxies append, IPv6, and IPv4 seen through a dual-stack socket.
        (1, "10.0.0.2", "203.0.113.5:41234", "203.0.113.5"),
        (1, "10.0.0.2", "[2001:db8::1]:443", "2001:db8::1"),
        (1, "10.0.0.2", "2001:DB8:0::1", "2001:db8::1"),
        (0, "::ffff:203.0.113.5", None, "203.0.113.5"),
        # A Unix-socket upstream leaves REMOTE_ADDR empty.
        (1, "", "203.0.113.5", "203.0.113.5"),
        (0, "", None, UNKNOWN),
        (1, "", None, UNKNOWN),
        (1, "", "garbage", UNKNOWN),
        (0, "not-an-ip", None, UNKNOWN),
    ],
)
def test_client_ip(settings, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(request_from(remote, forwarded)) == expected


def test_a_request_without_remote_addr_at_all_is_unknown(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/")
    del request.META["REMOTE_ADDR"]
    assert client_ip(request) == UNKNOWN
