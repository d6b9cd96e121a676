"""Counting a client's tries in fixed windows, for limits that reserve a unit before the work and
give it back when the try turns out not to count (a redemption code that was found).

Written by hand rather than with django-ratelimit: its `is_ratelimited` has no public way to give a
unit back, and checking before the work and counting after it in two calls lets a burst of
concurrent requests all pass the check before any of them is counted. Here each request takes its
unit first, atomically, and is refused when its unit is over the limit; a burst of 40 against a
limit of 10 lets exactly 10 through. On Redis (Django's RedisCache) taking a unit is one script
(INCR, and EXPIRE for a window's first unit) and giving it back another (DECR if the window still
exists): one round trip each, on one client kept per cache, rather than the four or five calls
(and a new redis-py client for each) that the cache's `add`, `incr` and `touch` cost. Other
caches (the per-process fallback, LocMemCache in the demo) count with `add` and `incr`.

A window opens with the first unit a client takes and lasts the rate's period (the counter's
expiry); then the client starts afresh.

When the shared cache (Redis) cannot be reached the counter carries on in a LocMemCache of this
process: each web process then enforces the limit on its own, which still slows guessing down,
and the page keeps working instead of answering 500.
"""

import ipaddress
import logging
import re
import weakref
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import RedisError

from .clientip import UNKNOWN, client_ip

logger = logging.getLogger(__name__)

# Redis errors (connection refused, timeouts) and the socket errors other backends let through.
CACHE_ERRORS = (RedisError, OSError)

# The counters used while the shared cache is unreachable. Room for many addresses: a full
# LocMemCache drops a third of its keys, and with them the counts of guessers.
fallback_cache = LocMemCache("mike-ratelimit-fallback", {"OPTIONS": {"MAX_ENTRIES": 20_000}})

_PERIODS = {"s": 1, "m": 60, "h": 60 * 60, "d": 24 * 60 * 60}
# django-ratelimit's format: a count, "/", an optional multiplier and a unit (seconds by default).
_RATE = re.compile(r"(?P<count>\d+)/(?P<multiplier>\d*)(?P<unit>[smhd]?)", re.IGNORECASE)


# A unit taken in one step: a window's first unit starts its clock; a counter found without an
# expiry (re-created by a bare INCR after it expired) is given one, so it cannot last forever.
_TAKE = """
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('TTL', KEYS[1]) == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""
# A unit given back to a window that still exists (one that expired took its units with it).
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECR', KEYS[1])
end
return false
"""


@dataclass(frozen=True)
class _Scripts:
    take: object
    give_back: object


# Per RedisCache object (Django makes one per thread, and anew when CACHES changes): the scripts,
# registered on one redis-py client over the cache's own connection pool.
_scripts: "weakref.WeakKeyDictionary[RedisCache, _Scripts]" = weakref.WeakKeyDictionary()


def _redis_scripts(backend: BaseCache) -> _Scripts | None:
    if not isinstance(backend, RedisCache):
        return None
    scripts = _scripts.get(backend)
    if scripts is None:
        client = backend._cache.get_client(write=True)
        scripts = _Scripts(client.register_script(_TAKE), client.register_script(_GIVE_BACK))
        _scripts[backend] = scripts
    return scripts


@dataclass(frozen=True)
class Rate:
    limit: int
    seconds: int


def parse_rate(rate: str) -> Rate:
    """`10/m`, `10/5m`, `100/h`, `5/30s`, `20/d` (django-ratelimit's format) as a Rate.
    Raises ImproperlyConfigured for anything else. (django-ratelimit's own parser is private.)"""
    match = _RATE.fullmatch(rate.strip())
    if match is None:
        raise ImproperlyConfigured(
            f"{rate!r} is not a rate: write a count per period, like 10/m, 10/5m or 100/h."
        )
    seconds = _PERIODS[(match["unit"] or "s").lower()] * int(match["multiplier"] or 1)
    if seconds == 0:
        raise ImproperlyConfigured(f"{rate!r} is not a rate: its period is zero.")
    return Rate(limit=int(match["count"]), seconds=seconds)


def client_key(request) -> str:
    """Whose counter a request counts on: the client's address through the trusted proxies
    (`client_ip`), an IPv6 address cut to its /64 network as django-ratelimit does, because an
    IPv6 subscriber is usually handed a whole /64 to pick addresses from."""
    ip = client_ip(request)
    if ip != UNKNOWN and ":" in ip:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address)
    return ip


@dataclass(frozen=True)
class Reservation:
    """One unit a client took from its window; `exceeded` when that unit is over the limit."""

    count: int
    rate: Rate
    backend: BaseCache
    key: str

    @property
    def exceeded(self) -> bool:
        return self.count > self.rate.limit

    def give_back(self) -> None:
        """Return the unit: the try did not count. The counter never drops below the units
        still taken, as each reservation gives back at most its own one."""
        try:
            scripts = _redis_scripts(self.backend)
            if scripts is not None:
                scripts.give_back(keys=[self.backend.make_and_validate_key(self.key)])
            else:
                self.backend.decr(self.key)
        except ValueError:
            pass  # the window ended meanwhile, taking the unit with it
        except CACHE_ERRORS as error:
            logger.warning("Rate limit %s: could not give a unit back (%s)", self.key, error)


def _take(backend: BaseCache, key: str, seconds: int) -> int:
    scripts = _redis_scripts(backend)
    if scripts is not None:
        return int(scripts.take(keys=[backend.make_and_validate_key(key)], args=[seconds]))
    backend.add(key, 0, seconds)
    try:
        count = backend.incr(key)
    except ValueError:
        # The window expired between add and incr: open the next one.
        backend.add(key, 0, seconds)
        count = backend.incr(key)
    if count == 1:
        # The window's first unit (re)starts its clock. This also mends a counter that expired
        # between Django's existence check and INCR, which Redis re-creates with no expiry.
        backend.touch(key, seconds)
    return count


def reserve(*, group: str, key: str, rate: str) -> Reservation:
    """Take one unit of `key`'s window in `group` at `rate` (django-ratelimit's format), before
    doing the work the limit protects. Check `exceeded`; call `give_back()` when the try turns
    out not to count. Atomic across processes on the shared cache (RATELIMIT_USE_CACHE); per
    process, with a warning logged, while that cache cannot be reached. Never raises for a cache
    outage."""
    parsed = parse_rate(rate)
    cache_key = f"ratelimit:{group}:{parsed.limit}/{parsed.seconds}s:{key}"
    backend = caches[settings.RATELIMIT_USE_CACHE]
    try:
        count = _take(backend, cache_key, parsed.seconds)
    except CACHE_ERRORS as error:
        logger.warning(
            "Rate limit %s: the cache is unreachable (%s); counting in this process instead",
            group,
            error,
        )
        backend = fallback_cache
        count = _take(backend, cache_key, parsed.seconds)
    return Reservation(count=count, rate=parsed, backend=backend, key=cache_key)
