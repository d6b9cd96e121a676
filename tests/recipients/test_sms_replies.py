"""Which word a text back is: every opt-in and opt-out word the original system took (SPEC §10),
however it is cased or punctuated."""

import pytest

from recipients.sms_replies import HINT, Keyword, classify

OPT_IN = ["YES", "Y", "YEA", "YEAH", "YEP", "YUP", "OK", "OKAY", "SURE", "ACCEPT"]
# The CTIA words, plus REVOKE, which Twilio also honours.
OPT_OUT = [
    "STOP",
    "STOP ALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "OPT OUT",
    "REVOKE",
]


def written_as_people_text(word):
    return [word, word.lower(), f"{word.capitalize()}!", f" {word.lower()}. "]


@pytest.mark.parametrize("body", [body for word in OPT_IN for body in written_as_people_text(word)])
def test_every_opt_in_word_opts_in(body):
    assert classify(body) == Keyword.OPT_IN


@pytest.mark.parametrize("body", ["Yes!", "yeah.", "Sure.", "O.K.", "y e s"])
def test_punctuation_and_spacing_do_not_matter(body):
    assert classify(body) == Keyword.OPT_IN


@pytest.mark.parametrize(
    "body",
    [body for word in OPT_OUT for body in written_as_people_text(word)] + ["opt-out", "Stop, all"],
)
def test_every_opt_out_word_opts_out(body):
    assert classify(body) == Keyword.OPT_OUT


@pytest.mark.parametrize("body", ["NO", "no", "No.", "N", "nope"])
def test_no_is_not_an_opt_out(body):
    assert classify(body) == Keyword.OTHER


@pytest.mark.parametrize("body", ["yes please", "maybe", "", "   ", "🙂"])
def test_anything_else_is_other(body):
    assert classify(body) == Keyword.OTHER


def test_the_hint_is_the_original_systems_wording():
    assert HINT == "Reply YES to opt in or STOP to opt out."
