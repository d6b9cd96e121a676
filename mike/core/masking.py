"""Phone numbers, email addresses and card codes taken out of text bound for a log or an error
report.

What counts as each, from what the project holds:
- phones: E.164 (`+15551234567`), US national forms (`(555) 123-4567`, `555.123.4567`) and any run
  of 7 or more digits, spaces or dashes allowed between them (card numbers, PINs' neighbours);
- card codes: a `code`, `pin` or `card_number` label followed by `:` or `=` and a value (the reward
  text says "Code: …", payloads say `"code": "…"`); the shapes the project issues or stocks, upper
  case letters and digits in dash-separated groups (`DEMO-SUMM-STA25-0001`, `TILLO-00000001`,
  `TEST-7KQ4-M2XD`, Amazon's `AQ7X-8KJ2P4-ZT9M`), and redemption codes (Crockford base32, ten
  symbols, `7KQ4-M2XD-9P` or `7KQ4M2XD9P`);
- email addresses: the part before the @.

UUIDs, ISO timestamps and IPv4 addresses are left as they are (they are full of digit runs and
are what a reader of logs needs). A value masked by mistake costs a little readability; one missed
is a phone number or a card's money in a log, so the patterns lean to masking.
"""

import re

MASK = "•••"

_CROCKFORD = "0-9A-HJKMNP-TV-Z"

# Kept as they are: matched first, so their digits are not read as phone numbers.
_KEEP = [
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    r"(?<![\w.-])[0-9a-f]{32}(?![\w-])",  # a UUID's hex (request ids)
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
    r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])",
]

_MASKED = [
    # A labelled code, PIN or card number: keep the label, mask the value.
    (
        "label",
        r"(?i:\b(?:(?:card|claim|gift_card|redemption)[_ ]?)?(?:code|pin|card_number)\b)"
        r"[\"']?\s*[:=]\s*[\"']?(?P<value>[^\s\"',;&]+)",
    ),
    ("email", r"[\w.+-]+@(?P<domain>[\w-]+(?:\.[\w-]+)+)"),
    ("phone", r"\+[1-9]\d{6,14}(?!\d)"),
    ("phone", r"(?<![\w.-])\(\d{3}\)\s?\d{3}[\s.-]\d{4}(?!\d)"),
    ("phone", r"(?<![\w.-])\d{3}[.-]\d{3}[.-]\d{4}(?![\w.-])"),
    # Card codes: upper-case letters and digits in dash-separated groups, with a digit and a
    # letter among them, 8 characters or more.
    (
        "code",
        r"(?<![\w-])(?=[A-Z0-9-]{8,}(?![\w-]))(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])"
        r"[A-Z0-9]{2,}(?:-[A-Z0-9]{1,}){1,}(?![\w-])",
    ),
    # Redemption codes as stored: ten Crockford symbols.
    ("code", rf"(?<![\w-])[{_CROCKFORD}]{{10}}(?![\w-])"),
    # Long digit runs: 7 digits or more, single spaces or dashes between them allowed.
    ("digits", r"(?<![\w.-])\d(?:[ -]?\d){6,}(?![\w])"),
]

_PATTERN = re.compile(
    "|".join(
        [f"(?P<keep{i}>{p})" for i, p in enumerate(_KEEP)]
        + [
            f"(?P<{kind}{i}>{p.replace('?P<value>', f'?P<value{i}>').replace('?P<domain>', f'?P<domain{i}>')})"
            for i, (kind, p) in enumerate(_MASKED)
        ]
    )
)


def _replace(match: re.Match) -> str:
    name = match.lastgroup or ""
    text = match.group(0)
    if name.startswith("keep"):
        return text
    index = name.lstrip("abcdefghijklmnopqrstuvwxyz")
    if name.startswith("label"):
        start = match.start(f"value{index}") - match.start()
        return text[:start] + MASK
    if name.startswith("email"):
        return f"{MASK}@{match.group(f'domain{index}')}"
    if name.startswith("phone") and text.startswith("+"):
        # The country code and the last two digits help a reader tell numbers apart.
        return f"{text[:2]}{MASK}{text[-2:]}"
    return MASK


def mask(text: str) -> str:
    """`text` with every phone number, email address and card code in it masked."""
    if not text:
        return text
    return _PATTERN.sub(_replace, text)


def mask_data(value, *, depth: int = 0):
    """`value` with every string in it masked, walking dicts, lists and tuples (an error report's
    frames, a log record's extra fields). Keys are kept; other types are returned as they are."""
    if depth > 20:
        return value
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: mask_data(item, depth=depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_data(item, depth=depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(mask_data(item, depth=depth + 1) for item in value)
    return value
