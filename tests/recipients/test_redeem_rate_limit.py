"""The wrong-code limit of /redeem/: counted per client (through the trusted proxies), reserved
before the lookup so a burst cannot outrun it, never counting a code that is found, and still
working, per process, when Redis is down."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from mike.core import ratelimit
from recipients.models import ApprovalStatus, SmsOptInStatus
from tests import factories

URL = "/redeem/"
WRONG = "ZZZZ-ZZZZ-ZZ"
PROXY = "10.0.0.2"  # the reverse proxy's address, as Mike sees it in REMOTE_ADDR
LIMIT = 10  # REDEEM_RATE's default, 10/m
DEAD_REDIS = "redis://127.0.0.1:6390/0"  # nothing listens there


def post(client, code, *, remote="203.0.113.5", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(URL, {"code": code}, **extra)


@pytest.fixture(autouse=True)
def _empty_fallback_counter():
    """The in-process counter used while Redis is down outlives a test; start each one empty."""
    ratelimit.fallback_cache.clear()
    yield
    ratelimit.fallback_cache.clear()


@pytest.fixture(params=["redis up", "redis down"])
def cache_state(request):
    if request.param == "redis down":
        request.getfixturevalue("redis_down")
    return request.param


@pytest.fixture
def redis_down(settings):
    """The default cache points at a port nothing listens on. Changing CACHES through the settings
    fixture sends setting_changed, on which Django's test signals drop the cache connections, so
    `cache` (and the rate limit) use the dead server from here on."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DEAD_REDIS,
        }
    }
    with pytest.raises(Exception, match="[Cc]onnect"):
        cache.get("anything")


@pytest.mark.django_db
def test_one_guesser_behind_the_proxy_does_not_lock_out_another_customer(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    customer = factories.RecipientFactory()
    for _ in range(LIMIT):
        assert post(client, WRONG, remote=PROXY, forwarded="203.0.113.5").status_code == 200
    assert post(client, WRONG, remote=PROXY, forwarded="203.0.113.5").status_code == 429

    # Same proxy, another customer: their own address has tried nothing wrong.
    response = post(client, customer.redemption_code, remote=PROXY, forwarded="198.51.100.7")
    assert response.status_code == 200
    assert "No reward on this code yet" in response.content.decode()


@pytest.mark.django_db
def test_spoofed_forwarded_for_entries_do_not_escape_the_limit(client, settings):
    # Two proxies (a CDN, then a load balancer): the CDN appends the client's address, the load
    # balancer the CDN's. Whatever the client wrote in front of those is not trusted.
    settings.TRUSTED_PROXY_COUNT = 2
    statuses = [
        post(
            client, WRONG, remote=PROXY, forwarded=f"192.0.2.{n}, 203.0.113.5, 198.18.0.1"
        ).status_code
        for n in range(LIMIT + 2)
    ]
    assert statuses == [200] * LIMIT + [429] * 2

    # An honest customer through the same two proxies is unaffected.
    customer = factories.RecipientFactory()
    response = post(
        client, customer.redemption_code, remote=PROXY, forwarded="198.51.100.7, 198.18.0.1"
    )
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("proxies", [0, 1])
def test_an_empty_remote_addr_is_answered_never_a_server_error(client, settings, proxies):
    """A Unix-socket upstream leaves REMOTE_ADDR empty: such requests share one counter, and a
    delivered card is still shown (its view recorded without an address)."""
    settings.TRUSTED_PROXY_COUNT = proxies
    reward = factories.RecipientGiftCardFactory(claimed=True)
    type(reward).objects.filter(pk=reward.pk).update(status="delivered")
    recipient = reward.recipient
    type(recipient).objects.filter(pk=recipient.pk).update(
        approval_status=ApprovalStatus.APPROVED, sms_opt_in_status=SmsOptInStatus.OPTED_IN
    )

    response = post(client, recipient.redemption_code, remote="")
    assert response.status_code == 200
    assert "Your code" in response.content.decode()
    recipient.refresh_from_db()
    assert recipient.approval_status == ApprovalStatus.REDEEMED
    assert recipient.redemption_ip is None

    statuses = [post(client, WRONG, remote="").status_code for _ in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]


@pytest.mark.django_db(transaction=True)
def test_a_concurrent_burst_of_wrong_codes_is_looked_up_only_limit_times():
    workers, per_worker = 8, 5
    barrier = threading.Barrier(workers)
    lock = threading.Lock()
    lookups = []

    def count_code_lookups(execute, sql, params, many, context):
        if '"recipients_recipient"' in sql and '"redemption_code"' in sql:
            with lock:
                lookups.append(sql)
        return execute(sql, params, many, context)

    def guess():
        client = Client()
        try:
            barrier.wait(timeout=10)
            with connection.execute_wrapper(count_code_lookups):
                return [post(client, WRONG).status_code for _ in range(per_worker)]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(guess) for _ in range(workers)]
        statuses = [status for future in futures for status in future.result(timeout=60)]

    assert len(statuses) == workers * per_worker
    assert [s for s in statuses if s != 429] == [200] * LIMIT
    # Each wrong code is looked up as the page looks up every code: its rewards with their
    # recipient, then (none found) the recipient alone.
    assert len(lookups) == 2 * LIMIT


@pytest.mark.django_db
def test_a_right_code_is_never_counted(client, cache_state):
    customer = factories.RecipientFactory()
    for _ in range(2 * LIMIT + 5):
        assert post(client, customer.redemption_code).status_code == 200
    # Every unit the right code reserved was given back: all the wrong tries are still there.
    statuses = [post(client, WRONG).status_code for _ in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]


@pytest.mark.django_db
def test_with_redis_down_the_page_works_and_guessing_is_still_limited(client, redis_down):
    customer = factories.RecipientFactory()
    assert post(client, customer.redemption_code).status_code == 200
    statuses = [post(client, WRONG).status_code for _ in range(LIMIT + 1)]
    assert statuses == [200] * LIMIT + [429]
    # The fallback counts per address, like the shared one.
    assert post(client, customer.redemption_code, remote="198.51.100.7").status_code == 200


@pytest.mark.django_db
def test_the_rate_setting_is_read_in_django_ratelimit_format(client, settings):
    settings.REDEEM_RATE = "3/5m"
    statuses = [post(client, WRONG).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert int(post(client, WRONG)["Retry-After"]) <= 300
