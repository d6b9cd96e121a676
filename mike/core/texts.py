"""Message templates: the variables a client's texts may use, filling them in, and refusing a
template with an unknown variable (or, for the opt-in question, one that breaks the A2P 10DLC
rules) when it is saved.

Two kinds of text:

- a **reward text** delivers a card: every variable, `{code}` included;
- an **opt-in text** asks to text the recipient: no `{code}` (no card exists yet), and it must name
  the company (`{client_name}`) and say how to opt out (STOP).

Each is looked up from the most specific level down: a condition's `sms_template`, else the
client's `sms_reward_template`, else DEFAULT_REWARD_TEXT; a campaign's `sms_opt_in_message`, else
the client's `sms_opt_in_template`, else DEFAULT_OPT_IN_TEXT (`reward_template`,
`opt_in_template`). The values come from the domains that own them
(`recipients.sms_replies.recipient_variables`, `giftcards.services.texts`): this module knows
names and rules only, so it imports no domain app.

Rendering is a single pass of plain substitution, written here rather than taken from a library:
`str.format` on a client's text would read attributes and indexes of the values it is given
(`{value.__class__}` and friends: format-string injection) and raises on any other brace, and a
Django template would let a client's text run tags and filters. Here a `{name}` that is not a
variable of the text is left as written, and a value is never read again as a template, so a
first name like "{code}" stays a first name.
"""

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.core.exceptions import ValidationError

# `{name}` or `{custom.field}`; anything else between braces (spaces, punctuation, a leading digit)
# is not a variable and is text like any other.
_VARIABLE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_-]+))?\}")
_STOP = re.compile(r"\bSTOP\b", re.IGNORECASE)

CUSTOM = "custom"
# `{client}` is what the first texts (and the reply texts in recipients.sms_replies) were written
# with; it keeps meaning the client's name.
ALIASES = {"client": "client_name"}

REWARD_VARIABLES = {
    "first_name": "the recipient's first name",
    "last_name": "the recipient's last name",
    "value": "the card's value, e.g. $15.00",
    "brand": "the card's brand",
    "code": "the gift card code (and its PIN when the card has one)",
    "link": "the page where the recipient views their card",
    "wallet": "a link that saves the card in the phone's wallet (the card's page where no "
    "wallet is set up)",
    "redemption_code": "the recipient's own code, as printed on the mailer",
    "client_name": "the company's name ({client} works too)",
}
# Before the card is claimed there is no code; value and brand are the waiting reward's.
OPT_IN_VARIABLES = {
    **{name: about for name, about in REWARD_VARIABLES.items() if name not in ("code", "wallet")},
    "value": "the value of the reward waiting for the recipient, e.g. $15.00 (empty when none)",
    "brand": "the brand of that reward",
}

DEFAULT_REWARD_TEXT = (
    "{client_name}: here is your {value} {brand} gift card. Code: {code}. "
    "View it any time at {link} with your code {redemption_code}."
)
# Mike's text where wallet passes are set up: the card's wallet page (`{wallet}`, a short link
# that also leads to the card) stands in for the redemption page, so the text grows by little.
DEFAULT_REWARD_TEXT_WITH_WALLET = (
    "{client_name}: here is your {value} {brand} gift card. Code: {code}. "
    "Add it to your phone's wallet: {wallet}"
)
DEFAULT_OPT_IN_TEXT = (
    "{client_name}: you've earned a reward! Reply YES to receive your gift card, "
    "STOP to opt out, HELP for help. Msg & data rates may apply."
)
# Mike's question when no reward is waiting yet: an agent asks on the call, before the condition
# that earns it is met, so the text cannot say a reward was earned.
DEFAULT_CONSENT_TEXT = (
    "{client_name}: reply YES to receive your reward by text message, "
    "STOP to opt out, HELP for help. Msg & data rates may apply."
)


def _listed(variables: Iterable[str]) -> str:
    return ", ".join([*(f"{{{name}}}" for name in variables), f"{{{CUSTOM}.<field>}}"])


def help_text(variables: Mapping[str, str]) -> str:
    """The variables a template field takes, for its help text."""
    return "Variables: " + "; ".join(
        [
            *(f"{{{name}}} {about}" for name, about in variables.items()),
            f"{{{CUSTOM}.<field>}} one of the recipient's custom fields (empty when it has none)",
        ]
    )


def money(amount: Decimal | None) -> str:
    """A card value as texts show it: `$15.00`."""
    return "" if amount is None else f"${amount:.2f}"


def render(
    template: str, values: Mapping[str, str], *, custom: Mapping[str, object] | None = None
) -> str:
    """Fill `template`'s variables from `values` (by canonical name, see ALIASES) and, when
    `custom` is given, `{custom.<field>}` from it (a missing field renders as empty). A `{name}`
    that `values` lacks is left exactly as written. Never raises on what the template holds."""
    if not isinstance(custom, Mapping) and custom is not None:
        custom = {}  # a JSON field holding a list or a string has no fields to offer

    def fill(match: re.Match) -> str:
        name, field = match.group(1), match.group(2)
        if field is not None:
            if name != CUSTOM or custom is None:
                return match.group(0)
            found = custom.get(field)
            return "" if found is None else str(found)
        name = ALIASES.get(name, name)
        return str(values[name]) if name in values else match.group(0)

    return _VARIABLE.sub(fill, template or "")


def _names_company(template: str) -> bool:
    return any(
        ALIASES.get(match.group(1), match.group(1)) == "client_name" and match.group(2) is None
        for match in _VARIABLE.finditer(template)
    )


def _says_how_to_opt_out(template: str) -> bool:
    return bool(_STOP.search(template))


def _unknown_variables(template: str, variables: Mapping[str, str]) -> list[str]:
    unknown = []
    for match in _VARIABLE.finditer(template):
        name, field = match.group(1), match.group(2)
        known = name == CUSTOM if field is not None else ALIASES.get(name, name) in variables
        if not known and match.group(0) not in unknown:
            unknown.append(match.group(0))
    return unknown


def _unknown_message(unknown: list[str], variables: Mapping[str, str]) -> str:
    label = "Unknown variable" if len(unknown) == 1 else "Unknown variables"
    return f"{label} {', '.join(unknown)}: use one of {_listed(variables)}."


# A reward text must give the recipient their card: the code itself, or a link to it.
CARD_VARIABLES = ("code", "link", "wallet")


def _gives_the_card(template: str) -> bool:
    return any(
        match.group(1) in CARD_VARIABLES and match.group(2) is None
        for match in _VARIABLE.finditer(template)
    )


def validate_reward_template(template: str) -> None:
    """Refuse a reward text with a variable Mike cannot fill (a typo like `{frist_name}`), or one
    that does not give the card: a text saying "here is your card" must hold its code, or a link
    to it. Blank is allowed: it means the next text in line (the client's, then Mike's)."""
    unknown = _unknown_variables(template, REWARD_VARIABLES)
    if unknown:
        raise ValidationError(_unknown_message(unknown, REWARD_VARIABLES), code="unknown_variable")
    if _is_set(template) and not _gives_the_card(template):
        raise ValidationError(
            "A reward text must give the card: include {code}, or a link to it with {link} or "
            "{wallet}.",
            code="no_card",
        )


def opt_in_problems(template: str) -> list[str]:
    """What is wrong with an opt-in text, in words; empty when it may be sent."""
    problems = []
    unknown = _unknown_variables(template, OPT_IN_VARIABLES)
    if "{code}" in unknown:
        unknown.remove("{code}")
        problems.append("{code} cannot be used in an opt-in text: no gift card exists yet.")
    if unknown:
        problems.append(_unknown_message(unknown, OPT_IN_VARIABLES))
    if not _names_company(template):
        problems.append("An opt-in text must name the company: include {client_name}.")
    if not _says_how_to_opt_out(template):
        problems.append(
            'An opt-in text must say how to opt out: include STOP, e.g. "Reply STOP to opt out".'
        )
    return problems


def validate_opt_in_template(template: str) -> None:
    """Refuse an opt-in text with a variable Mike cannot fill, or one that does not name the
    company or say how to opt out (A2P 10DLC)."""
    problems = opt_in_problems(template)
    if problems:
        raise ValidationError(
            [ValidationError(problem, code="invalid_opt_in_text") for problem in problems]
        )


def _is_set(template: str | None) -> bool:
    return bool(template and template.strip())


def reward_template(*candidates: str | None, default: str = DEFAULT_REWARD_TEXT) -> str:
    """The first template set of `candidates` (most specific first) that gives the card, else
    `default` (Mike's text: DEFAULT_REWARD_TEXT, or DEFAULT_REWARD_TEXT_WITH_WALLET where wallets
    are set up). A row written before saving refused a text without the card (or by code that
    skips `full_clean()`) is passed over rather than sent: a card text without its card tells
    the recipient something that is not so."""
    return next((t for t in candidates if _is_set(t) and _gives_the_card(t)), default)


def opt_in_template(*candidates: str | None) -> str:
    """The first template set of `candidates` (most specific first) that names the company and
    says how to opt out, else DEFAULT_OPT_IN_TEXT.

    Saving refuses a template that does not, but a row written before that rule, or by code that
    skips `full_clean()`, could still hold one: such a text is passed over rather than sent,
    because a non-compliant opt-in question can get the sending number blocked."""
    return next(
        (t for t in candidates if _is_set(t) and _names_company(t) and _says_how_to_opt_out(t)),
        DEFAULT_OPT_IN_TEXT,
    )
