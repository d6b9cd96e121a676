"""normalize_phone reads the common US shapes itself: it must give what phonenumbers gives."""

import random

import phonenumbers
import pytest

from mike.core.phones import normalize_phone


def _by_phonenumbers(raw: str, region: str = "US") -> str:
    raw = raw.strip()
    if not raw:
        return ""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("(512) 201-0001", "+15122010001"),
        ("512-201-0001", "+15122010001"),
        ("512.201.0001", "+15122010001"),
        ("+1 512 201 0001", "+15122010001"),
        ("5122010001", "+15122010001"),
        ("1-512-201-0001", "+15122010001"),
        (" 1 (512) 201-0001 ", "+15122010001"),
        # Not the common shape: phonenumbers decides.
        ("1234567890", "+11234567890"),
        ("11234567890", ""),
        ("+2125550101", ""),
        ("212-555-0101 ext 5", "+12125550101"),
        ("２１２５５５０１０１", "+12125550101"),
        ("+44 20 7946 0958", "+442079460958"),
        ("12345", ""),
        ("", ""),
    ],
)
def test_common_and_uncommon_shapes(raw, e164):
    assert normalize_phone(raw) == e164 == _by_phonenumbers(raw)


def test_the_same_as_phonenumbers_on_many_written_forms():
    rng = random.Random(12)
    shapes = (
        "({a}) {e}-{s}",
        "{a}-{e}-{s}",
        "{a}.{e}.{s}",
        "+1 {a} {e} {s}",
        "{a}{e}{s}",
        "1-{a}-{e}-{s}",
        "+1({a}){e}-{s}",
        "1 {a} {e}{s}",
    )
    samples = []
    for _ in range(3000):
        parts = {
            "a": f"{rng.randrange(1000):03d}",
            "e": f"{rng.randrange(1000):03d}",
            "s": f"{rng.randrange(10000):04d}",
        }
        samples.append(rng.choice(shapes).format(**parts))
        # Digits and punctuation in any order and number: what a careless file holds.
        samples.append("".join(rng.choice("0123456789  -.()+1") for _ in range(rng.randrange(16))))
    for raw in samples:
        assert normalize_phone(raw) == _by_phonenumbers(raw), raw


def test_other_regions_go_through_phonenumbers():
    assert normalize_phone("020 7946 0958", "GB") == "+442079460958"
    assert normalize_phone("(512) 201-0001", "GB") == _by_phonenumbers("(512) 201-0001", "GB")
