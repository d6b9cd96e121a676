"""Formula-injection escaping for every CSV Mike writes (exports and import error reports), and
the line writer the streamed ones share."""

import csv
import re

from django.utils.encoding import force_str

# A cell a spreadsheet would read as a formula (OWASP "CSV injection"): = + - @, and the tab and
# carriage return some spreadsheets strip first. A plain number such as -12.50 is left as it is.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def csv_safe(value) -> str:
    text = "" if value is None else force_str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a streamed response."""

    def write(self, value):
        return value


def csv_line_writer():
    """A csv.writer whose writerow returns the CSV line instead of writing it: for streaming."""
    return csv.writer(_Echo())
