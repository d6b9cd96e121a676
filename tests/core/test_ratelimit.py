"""The fixed-window counter behind the wrong-code limit: rates in django-ratelimit's format, units
taken and given back, and a per-process fallback while the shared cache is down."""

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import RequestFactory

from mike.core import ratelimit
from mike.core.ratelimit import Rate, client_key, parse_rate, reserve


@pytest.fixture(autouse=True)
def _empty_fallback_counter():
    ratelimit.fallback_cache.clear()
    yield
    ratelimit.fallback_cache.clear()


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("10/m", Rate(10, 60)),
        ("10/5m", Rate(10, 300)),
        ("100/h", Rate(100, 3600)),
        ("5/30s", Rate(5, 30)),
        ("20/d", Rate(20, 86400)),
        ("3/10", Rate(3, 10)),
        (" 10/M ", Rate(10, 60)),
    ],
)
def test_rates_are_read_in_django_ratelimit_format(rate, expected):
    assert parse_rate(rate) == expected


@pytest.mark.parametrize("rate", ["", "10", "ten/m", "10/w", "10/0m", "10/m/s", "-1/m"])
def test_a_rate_that_is_not_one_is_refused(rate):
    with pytest.raises(ImproperlyConfigured, match="is not a rate"):
        parse_rate(rate)


def test_units_are_counted_and_given_back():
    first = reserve(group="test", key="203.0.113.5", rate="2/m")
    second = reserve(group="test", key="203.0.113.5", rate="2/m")
    assert (first.count, second.count) == (1, 2)
    assert not second.exceeded
    assert reserve(group="test", key="203.0.113.5", rate="2/m").exceeded
    assert not reserve(group="test", key="198.51.100.7", rate="2/m").exceeded

    second.give_back()
    first.give_back()
    assert reserve(group="test", key="203.0.113.5", rate="2/m").count == 2


def test_with_the_cache_down_units_are_counted_in_this_process(settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6390/0",
        }
    }
    with caplog.at_level(logging.WARNING, logger="mike.core.ratelimit"):
        taken = [reserve(group="test", key="203.0.113.5", rate="2/m") for _ in range(3)]
    assert [unit.exceeded for unit in taken] == [False, False, True]
    assert all(unit.backend is ratelimit.fallback_cache for unit in taken)
    assert "counting in this process instead" in caplog.text

    taken[1].give_back()
    assert reserve(group="test", key="203.0.113.5", rate="2/m").count == 3


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("203.0.113.5", "203.0.113.5"),
        # One IPv6 subscriber holds a /64: all of it is one client.
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::"),
        ("", "unknown"),
    ],
)
def test_client_key(settings, remote, expected):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_key(RequestFactory().get("/", REMOTE_ADDR=remote)) == expected


@pytest.mark.parametrize(
    ("setting", "value", "error"),
    [("REDEEM_RATE", "10 a minute", "mike.E007"), ("TRUSTED_PROXY_COUNT", -1, "mike.E008")],
)
def test_a_rate_limit_setting_that_cannot_work_fails_the_system_check(
    settings, setting, value, error
):
    setattr(settings, setting, value)
    with pytest.raises(SystemCheckError, match=error):
        call_command("check")
