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
the block only on START, UNSTOP or YES. So a number that sent STOP and then, say, SURE is opted in
by Mike, but Twilio refuses the next text Mike sends it (error 21610), and that refusal opts it
out again (`recipients.services.inbound.opt_out_refused_number`): the carrier's block wins.
Anything else gets HINT, the original system's wording.
"""

import re
from enum import Enum


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

DEFAULT_OPT_IN_MESSAGE = (
    "{client}: you've earned a reward! Reply YES to receive your gift card, "
    "STOP to opt out, HELP for help."
)
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


def classify(body: str) -> Keyword:
    word = _NOT_LETTERS.sub("", (body or "").upper())
    if word in OPT_IN_WORDS:
        return Keyword.OPT_IN
    if word in OPT_OUT_WORDS:
        return Keyword.OPT_OUT
    if word in START_WORDS:
        return Keyword.START
    if word in HELP_WORDS:
        return Keyword.HELP
    return Keyword.OTHER


def render(template: str, *, client_name: str) -> str:
    # str.replace, not str.format: a client's custom text may hold braces of its own.
    return template.replace("{client}", client_name or "Mike")
