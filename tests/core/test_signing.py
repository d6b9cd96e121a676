"""Signed webhook bodies (mike.core.signing): the header's format, the time window both ways,
several signatures in one header, and the exact bytes signed."""

import hashlib
import hmac

import pytest

from mike.core.signing import (
    SignatureError,
    compute_signature,
    parse_header,
    signature_header,
    verify,
)

SECRET = "s3cret"
BODY = b'{"id":"evt_1","event":"appointment_booked"}'
NOW = 1_800_000_000


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert compute_signature(SECRET, NOW, BODY) == expected
    assert signature_header(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


def test_a_good_signature_returns_its_timestamp():
    assert (
        verify(header=signature_header(SECRET, BODY, NOW), body=BODY, secrets=[SECRET], now=NOW)
        == NOW
    )


@pytest.mark.parametrize("skew", [-300, 300])
def test_the_window_is_inclusive_at_five_minutes_either_way(skew):
    header = signature_header(SECRET, BODY, NOW + skew)

    assert verify(header=header, body=BODY, secrets=[SECRET], now=NOW) == NOW + skew


@pytest.mark.parametrize("skew", [-301, 301])
def test_outside_the_window_is_refused_either_way(skew):
    with pytest.raises(SignatureError, match="minutes"):
        verify(
            header=signature_header(SECRET, BODY, NOW + skew), body=BODY, secrets=[SECRET], now=NOW
        )


def test_any_of_several_signatures_and_any_of_several_secrets_may_match():
    good = compute_signature("new", NOW, BODY)
    header = f"t={NOW},v1={'0' * 64},v1={good.upper()}"

    assert verify(header=header, body=BODY, secrets=["old", "new"], now=NOW) == NOW


def test_empty_secrets_never_match():
    header = signature_header("", BODY, NOW)

    with pytest.raises(SignatureError, match="does not match"):
        verify(header=header, body=BODY, secrets=[""], now=NOW)


@pytest.mark.parametrize("header", ["", "  ", "t=1", "v1=ab", "t=x,v1=ab", "t=1,v2=ab", "nonsense"])
def test_malformed_headers_are_refused(header):
    with pytest.raises(SignatureError):
        parse_header(header)


def test_spaces_around_the_parts_are_allowed():
    signature = compute_signature(SECRET, NOW, BODY)

    assert parse_header(f" t={NOW} , v1={signature} ") == (NOW, [signature])
