"""What a recipient can text back, and what Mike answers.

Keywords are matched on the letters of the message only, upper-cased: "yes", " Yes! " and "Y E S"
are all YES, "Stop all" is STOPALL and "opt-out" is OPTOUT.

- Opt in: the words the original system took (SPEC §10): YES, Y, YEA, YEAH, YEP, YUP, OK, OKAY,
  SURE, ACCEPT.
- Opt out: the CTIA universal words STOP, STOP ALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT,
  OPT OUT, and REVOKE, which Twilio also honours. "NO" is not one (no CTIA word), so it gets
  the hint like any other reply.
- START/UNSTOP come back after a STOP; HELP/INFO get help.

Twilio blocks texts to a number that sent one of the stop words (its Advanced Opt-Out) and lifts
the block only on START, UNSTOP or YES (`lifts_carrier_block`). So a number that sent STOP and then,
say, SURE stays opted out: were Mike to opt it in, Twilio would refuse every text to it (error
21610) and that refusal would opt it out again. Its SURE is answered as any other reply is, with
HINT (reply YES), the original system's wording.

The opt-in question itself, and the card's text, are message templates (mike.core.texts) a client
may write; `recipient_variables` gives them what a recipient's texts can say about the recipient.
"""

import re
from enum import Enum

from django.conf import settings
from django.urls import reverse

from mike.core import texts


class Keyword(Enum):
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"
    START = "start"
    HELP = "help"
    OTHER = "other"


OPT_IN_WORDS = frozenset({"YES", "Y", "YEA", "YEAH", "YEP", "YUP", "OK", "OKAY", "SURE", "ACCEPT"})
OPT_OUT_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
# The words after which Twilio texts a number that sent a stop word again.
CARRIER_OPT_IN_WORDS = frozenset({"YES"}) | START_WORDS

# What a YES (or START) is answered with says only what exists (mike.rewards.inbound picks one).
OPTED_IN_ON_ITS_WAY = (
    "{client}: thanks, you're opted in! Your {value} {brand} gift card is on its way by {method}."
)
OPTED_IN_ON_THEIR_WAY = (
    "{client}: thanks, you're opted in! Your {count} gift cards are on their way by {method}."
)
OPTED_IN_GETTING_READY = (
    "{client}: thanks, you're opted in! We're getting your gift card ready and will text it to "
    "you as soon as it is."
)
OPTED_IN_NOT_APPROVED = "{client}: thanks, you're opted in! We'll text your gift card as soon as your reward is approved."
OPTED_IN_NOTHING_EARNED = (
    "{client}: thanks, you're opted in! We'll text you as soon as you've earned a reward."
)
OPTED_IN_NO_REWARD = "{client}: thanks, you're opted in to our texts."
RESTARTED_NOT_APPROVED = (
    "{client}: you're subscribed again. Reply YES to receive your reward, STOP to opt out."
)
RESTARTED_NOTHING_EARNED = "{client}: you're subscribed to our texts again. STOP to opt out."
HELP = (
    "{client} rewards: reply YES to receive your gift card by text, STOP to opt out. "
    "Msg & data rates may apply."
)
HINT = "Reply YES to opt in or STOP to opt out."
UNKNOWN_NUMBER = (
    "Sorry, we couldn't find a reward for this number. "
    "Please call the number printed on your mailer."
)

_NOT_LETTERS = re.compile(r"[^A-Z]")


def _word(body: str) -> str:
    """The message's letters, upper-cased: what the keywords are matched on."""
    return _NOT_LETTERS.sub("", (body or "").upper())


def classify(body: str) -> Keyword:
    word = _word(body)
    if word in OPT_IN_WORDS:
        return Keyword.OPT_IN
    if word in OPT_OUT_WORDS:
        return Keyword.OPT_OUT
    if word in START_WORDS:
        return Keyword.START
    if word in HELP_WORDS:
        return Keyword.HELP
    return Keyword.OTHER


def lifts_carrier_block(body: str) -> bool:
    """Whether this text lifts the carrier's block of a number that sent a stop word."""
    return _word(body) in CARRIER_OPT_IN_WORDS


def render(template: str, *, client_name: str) -> str:
    """A reply text above, with the client's name for `{client}`."""
    return texts.render(template, {"client_name": client_name or "Mike"})


def recipient_variables(recipient) -> dict[str, str]:
    """The template variables a recipient's texts share, opt-in question and card alike (the
    reward's `{value}`, `{brand}` and `{code}` are added by whoever knows the reward)."""
    return {
        "first_name": recipient.first_name,
        "last_name": recipient.last_name,
        # Every text must name the company (A2P 10DLC); a client without a name still has one.
        "client_name": recipient.audience.client.name or "Mike",
        "link": settings.SITE_URL.rstrip("/") + reverse("redeem"),
        "redemption_code": recipient.display_code,
    }
