import re
from itertools import chain, repeat

import pytest

from recipients.codes import (
    CODE_LENGTH,
    CROCKFORD_ALPHABET,
    CodeSpaceExhausted,
    draw_codes,
    draw_tokens,
    format_code,
    generate_recipient_token,
    generate_redemption_code,
    is_well_formed,
    normalize_code,
)
from tests.factories import RecipientFactory


def test_alphabet_has_no_ambiguous_letters():
    assert not set("ILOU") & set(CROCKFORD_ALPHABET)
    assert len(CROCKFORD_ALPHABET) == 32


def test_code_has_at_least_40_bits_of_randomness():
    # Each symbol of a 32-letter alphabet carries 5 bits.
    assert CODE_LENGTH * 5 >= 40


def test_generated_code_is_well_formed_and_prints_in_groups():
    code = generate_redemption_code(is_taken=lambda c: False)
    assert is_well_formed(code)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}", format_code(code))


def test_codes_do_not_repeat_across_many_draws():
    codes = {generate_redemption_code(is_taken=lambda c: False) for _ in range(5000)}
    assert len(codes) == 5000


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("7kq4-m2xd-9p", "7KQ4M2XD9P"),
        (" 7KQ4 M2XD 9P ", "7KQ4M2XD9P"),
        ("oKQ4-M2XD-9P", "0KQ4M2XD9P"),
        ("IKQ4-LM2X-D9", "1KQ41M2XD9"),
        ("7KQ4_M2XD.9P", "7KQ4M2XD9P"),
    ],
)
def test_code_entry_forgives_case_separators_and_confusable_letters(typed, stored):
    assert normalize_code(typed) == stored


@pytest.mark.django_db
def test_collision_with_an_existing_recipient_code_is_retried():
    existing = RecipientFactory(redemption_code="AAAAAAAAAA")
    # The first draw repeats the existing code symbol by symbol; the second is fresh.
    draws = chain(repeat("A", CODE_LENGTH), repeat("B", CODE_LENGTH))
    code = generate_redemption_code(choice=lambda alphabet: next(draws))
    assert code == "BBBBBBBBBB"
    assert code != existing.redemption_code


def test_a_broken_random_source_raises_instead_of_looping():
    with pytest.raises(CodeSpaceExhausted):
        generate_redemption_code(is_taken=lambda c: True)


def test_recipient_token_is_url_safe_with_128_bits_or_more():
    token = generate_recipient_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert len(token) * 6 >= 128
    assert token != generate_recipient_token()


def test_codes_drawn_for_an_import_are_distinct_well_formed_and_use_every_symbol():
    codes = draw_codes(5003)
    assert len(codes) == len(set(codes)) == 5003
    assert all(is_well_formed(code) for code in codes)
    # 50,030 symbols: each of the 32 should appear about 1,563 times.
    counts = dict.fromkeys(CROCKFORD_ALPHABET, 0)
    for code in codes:
        for symbol in code:
            counts[symbol] += 1
    assert min(counts.values()) > 1300 and max(counts.values()) < 1850
    assert draw_codes(0) == [] and len(draw_codes(1)) == 1


def test_tokens_drawn_for_an_import_are_distinct_and_shaped_as_the_model_default_makes_them():
    tokens = draw_tokens(1001)
    assert len(tokens) == len(set(tokens)) == 1001
    shape = re.compile(r"[A-Za-z0-9_-]{32}")
    assert all(shape.fullmatch(token) for token in tokens)
    assert all(shape.fullmatch(generate_recipient_token()) for _ in range(20))
    # Every symbol of the URL-safe alphabet turns up in every position's range of the text.
    assert set("".join(tokens)) == set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert draw_tokens(0) == []
