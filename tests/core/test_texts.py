"""Message templates (mike.core.texts): each variable is filled in, anything else between braces is
left as written, the text is looked up from the most specific level down, and a template with an
unknown variable, or an opt-in text that breaks the A2P 10DLC rules, is refused."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from mike.core import texts

ALL_VALUES = {
    "first_name": "Ann",
    "last_name": "Lee",
    "value": "$15.00",
    "brand": "Amazon",
    "code": "AMZ-1234",
    "link": "https://mike.example.com/redeem/",
    "redemption_code": "7KQ4-M2XD-9P",
    "client_name": "Acme Roofing",
}


# --- Rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(texts.REWARD_VARIABLES))
def test_each_variable_renders_its_value(name):
    assert texts.render(f"<{{{name}}}>", ALL_VALUES) == f"<{ALL_VALUES[name]}>"


def test_client_is_the_client_name_under_its_old_name():
    assert texts.render("{client}: hi", {"client_name": "Acme Roofing"}) == "Acme Roofing: hi"


def test_a_custom_field_renders_from_the_recipients_custom_fields():
    custom = {"roof_age": 12, "agent-name": "Sam"}
    rendered = texts.render("{custom.roof_age} years, ask {custom.agent-name}", {}, custom=custom)
    assert rendered == "12 years, ask Sam"


@pytest.mark.parametrize("custom", [{}, {"other": "x"}, {"roof_age": None}, [], "text"])
def test_a_missing_custom_field_renders_as_empty(custom):
    assert texts.render("[{custom.roof_age}]", {}, custom=custom) == "[]"


@pytest.mark.parametrize(
    "template",
    [
        "{here}",
        "{ first_name }",
        "{}",
        "{{",
        "}",
        "{0}",
        "{value.__class__}",
        "{first_name.upper}",
        "{custom}",
        "{custom.}",
        "{custom.roof age}",
        "50% off {today only!}",
        "{code}",  # known, but not given: left for the reader to see, never guessed at
    ],
)
def test_braces_that_are_not_a_given_variable_are_left_as_written(template):
    values = {name: value for name, value in ALL_VALUES.items() if name != "code"}
    assert texts.render(template, values) == template


def test_a_value_is_never_read_again_as_a_template():
    values = {**ALL_VALUES, "first_name": "{code}", "last_name": "{0.__class__}"}
    assert texts.render("Hi {first_name} {last_name}", values) == "Hi {code} {0.__class__}"


def test_money_is_shown_with_cents():
    assert texts.money(Decimal("15")) == "$15.00"
    assert texts.money(Decimal("25.5")) == "$25.50"


# --- The lookup ----------------------------------------------------------------------------------

COMPLIANT = "{client_name}: reply YES for your {value} card, STOP to opt out."


def test_the_reward_text_is_the_first_level_that_has_one():
    assert texts.reward_template("condition {code}", "client {code}") == "condition {code}"
    assert texts.reward_template("", "client {code}") == "client {code}"
    assert texts.reward_template("  \n", None) == texts.DEFAULT_REWARD_TEXT
    assert texts.reward_template("", "") == texts.DEFAULT_REWARD_TEXT


def test_the_opt_in_text_is_the_first_level_that_has_one():
    client = "{client}: YES for a card, STOP to stop."
    assert texts.opt_in_template(COMPLIANT, client) == COMPLIANT
    assert texts.opt_in_template("", client) == client
    assert texts.opt_in_template(None, " ") == texts.DEFAULT_OPT_IN_TEXT


def test_an_opt_in_text_stored_without_the_opt_out_or_the_company_is_passed_over():
    """A row written before the rule, or by code that skips full_clean(), is not sent."""
    assert texts.opt_in_template("{client_name}: reply YES!", COMPLIANT) == COMPLIANT
    assert texts.opt_in_template("Reply YES or STOP", "") == texts.DEFAULT_OPT_IN_TEXT


def test_the_defaults_are_valid_and_compliant():
    texts.validate_reward_template(texts.DEFAULT_REWARD_TEXT)
    texts.validate_opt_in_template(texts.DEFAULT_OPT_IN_TEXT)
    opt_in = texts.render(texts.DEFAULT_OPT_IN_TEXT, ALL_VALUES)
    assert opt_in.startswith("Acme Roofing: ")
    for words in ("Reply YES", "STOP to opt out", "HELP for help", "Msg & data rates may apply"):
        assert words in opt_in


# --- Validation ----------------------------------------------------------------------------------


def messages_of(validator, template):
    with pytest.raises(ValidationError) as refused:
        validator(template)
    return refused.value.messages


def test_an_unknown_variable_is_refused_by_name_with_the_ones_to_use():
    assert messages_of(texts.validate_reward_template, "Hi {frist_name}, {code}") == [
        "Unknown variable {frist_name}: use one of {first_name}, {last_name}, {value}, {brand}, "
        "{code}, {link}, {redemption_code}, {client_name}, {custom.<field>}."
    ]


def test_several_unknown_variables_are_named_together_once_each():
    [message] = messages_of(texts.validate_reward_template, "{Code} {pin} {pin} {vaule.x}")
    assert message.startswith("Unknown variables {Code}, {pin}, {vaule.x}: use one of ")


@pytest.mark.parametrize(
    "template",
    [
        "{client_name}: {first_name} {last_name}, your {value} {brand} card {code} at {link}",
        "{client}: {redemption_code} {custom.roof_age} { not a variable } {} 100% {0}",
    ],
)
def test_a_reward_text_with_known_variables_is_accepted(template):
    texts.validate_reward_template(template)


def test_an_opt_in_text_cannot_use_the_code():
    assert messages_of(
        texts.validate_opt_in_template, "{client}: your code {code}. STOP to end"
    ) == ["{code} cannot be used in an opt-in text: no gift card exists yet."]


def test_an_opt_in_text_must_say_how_to_opt_out():
    assert messages_of(texts.validate_opt_in_template, "{client_name}: reply YES, nonstop!") == [
        'An opt-in text must say how to opt out: include STOP, e.g. "Reply STOP to opt out".'
    ]


def test_an_opt_in_text_must_name_the_company():
    assert messages_of(texts.validate_opt_in_template, "Acme: reply YES or STOP") == [
        "An opt-in text must name the company: include {client_name}."
    ]


def test_an_opt_in_text_gets_every_problem_at_once():
    assert len(messages_of(texts.validate_opt_in_template, "Your {code}, {frist_name}")) == 4


@pytest.mark.parametrize(
    "template",
    [
        COMPLIANT,
        "{client}: Reply yes for a {brand} card. Reply stop to opt out.",
        "{client_name} {first_name} {custom.x} {redemption_code} {link} - Stop? STOP.",
    ],
)
def test_a_compliant_opt_in_text_is_accepted(template):
    texts.validate_opt_in_template(template)
