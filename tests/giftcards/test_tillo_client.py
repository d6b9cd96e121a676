"""The Tillo client against a local fake Tillo: signed requests, one card per idempotency key,
bounded retries, and uncertain answers reported as such (never as a refusal)."""

from decimal import Decimal

import pytest

from giftcards.providers import ProviderRefused, ProviderUncertain, TilloClient
from tests.fakes.tillo import API_KEY, SECRET, FakeTillo


@pytest.fixture
def tillo(httpserver):
    fake = FakeTillo()
    httpserver.expect_request("/api/v2/digital/issue", method="POST").respond_with_handler(
        fake.handle
    )
    fake.client = TilloClient(
        base_url=httpserver.url_for("/"), api_key=API_KEY, secret=SECRET, timeout=1, retries=2
    )
    return fake


def issue(tillo, key="reward-1", brand="starbucks-us"):
    return tillo.client.issue_card(
        brand=brand, value=Decimal("10"), currency="USD", idempotency_key=key
    )


def test_a_signed_request_issues_a_card(tillo):
    card = issue(tillo)
    assert card.code.startswith("TILLO-") and card.pin and card.order_id
    assert tillo.requests == 1


def test_the_same_key_never_buys_twice(tillo):
    first, again = issue(tillo, "reward-7"), issue(tillo, "reward-7")
    assert first == again
    assert len(tillo.issued) == 1
    assert issue(tillo, "reward-8").code != first.code


def test_a_500_is_retried_with_the_same_key(tillo):
    tillo.fail_next = [500, 502]
    card = issue(tillo, "reward-9")
    assert tillo.requests == 3 and len(tillo.issued) == 1
    assert card.code == tillo.issued["reward-9"]["code"]


def test_persistent_5xx_is_uncertain_not_refused(tillo):
    tillo.fail_next = [500, 500, 500]
    with pytest.raises(ProviderUncertain):
        issue(tillo)
    assert tillo.requests == 3  # one try and two retries, no more


def test_a_timeout_after_issuing_settles_to_the_same_card(tillo):
    tillo.stall_next = [1.5, 1.5, 1.5]
    with pytest.raises(ProviderUncertain):
        issue(tillo, "reward-slow")
    bought = tillo.issued["reward-slow"]["code"]
    # Later (the settle check) the same key returns the card already bought: never lost, never twice.
    assert issue(tillo, "reward-slow").code == bought
    assert len(tillo.issued) == 1


def test_a_refusal_is_final(tillo):
    with pytest.raises(ProviderRefused, match="Brand not found"):
        issue(tillo, brand="unknown-brand")


def test_a_wrong_secret_is_refused(tillo):
    tillo.client.secret = "wrong"
    with pytest.raises(ProviderRefused):
        issue(tillo)
    assert tillo.issued == {}


def test_missing_credentials_refuse_without_calling(tillo):
    tillo.client.api_key = ""
    with pytest.raises(ProviderRefused):
        issue(tillo)
    assert tillo.requests == 0
