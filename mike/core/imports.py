"""The import engine every CSV import shares: a file as people have it, read as numbered rows.

`CsvFile` checks the whole upload before a row is handed out (size, NUL bytes, encoding, a header
and at least one data row), so a refused file raises one `ImportFileError` and changes nothing.
Rows are then streamed: the file is read twice in fixed-size chunks (once to check it, once to
parse it) and never held in memory, so a million-row file needs what a thousand-row one does.

`ImportReport` collects what an import found (rows, imported, duplicates, row errors by line);

This module knows nothing of recipients or cards: the domain importers map `Row.values` to their
models (recipients.imports, giftcards.services.imports).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from django.conf import settings

from mike.core.errors import DomainError

CHUNK = 64 * 1024
SNIFF_BYTES = 16 * 1024
DELIMITERS = ",;\t"

# Excel on Windows saves "CSV" in the ANSI code page; anything that is not UTF-8 is read as that.
FALLBACK_ENCODING = "cp1252"

_HEADER_SEPARATORS = re.compile(r"[\s\-]+")


class ImportFileError(DomainError, ValueError):
    """The file as a whole cannot be imported (empty, binary, too big, undecodable …); nothing
    was written. The message is for the person who uploaded it."""


class RowError(DomainError, ValueError):
    """One row cannot be imported; the message says why (without the "line N:" prefix)."""


def mapped_cells(row: Row, mapping: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """({field: cell} for the mapped fields, {column: cell} of the other non-empty columns)."""
    cell = {name: row.values.get(column, "") for name, column in mapping.items()}
    mapped = set(mapping.values())
    others = {key: value for key, value in row.values.items() if key not in mapped and value}
    return cell, others


def person_name(cell: dict[str, str]) -> tuple[str, str]:
    """(first, last) from the first/last name cells, or else the full name's: "Mary Ann Smith"
    has the last word as the family name, as mail houses split it."""
    first, last = cell.get("first_name", ""), cell.get("last_name", "")
    if not (first or last) and cell.get("full_name"):
        parts = cell["full_name"].rsplit(None, 1)
        first, last = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "")
    return first, last


def normalize_header(name: str) -> str:
    """`" First-Name "` → `first_name`: the form column names are matched in."""
    return _HEADER_SEPARATORS.sub("_", (name or "").strip().lower())


@dataclass(frozen=True)
class Row:
    """One data row: `line` is the file line it starts on (a quoted field may span lines)."""

    line: int
    values: dict[str, str]


@dataclass
class ImportReport:
    """What one import (or one batch of it) found. `entries` holds (line, message, kind) for
    duplicates ("duplicate") and row errors ("error"); `problems` the (line, message) pairs."""

    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    errors: int = 0
    entries: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def problems(self) -> list[tuple[int, str]]:
        return [(line, message) for line, message, _ in self.entries]

    def duplicate(self, line: int, message: str) -> None:
        self.duplicates += 1
        self.entries.append((line, message, "duplicate"))

    def error(self, line: int, message: str) -> None:
        self.errors += 1
        self.entries.append((line, message, "error"))

    def clear(self) -> None:
        self.rows = self.imported = self.duplicates = self.errors = 0
        self.entries = []

    def copy(self) -> ImportReport:
        return ImportReport(
            rows=self.rows,
            imported=self.imported,
            duplicates=self.duplicates,
            errors=self.errors,
            entries=list(self.entries),
        )

    def summary(self) -> str:
        text = (
            f"{self.rows} rows, {self.imported} imported, {self.duplicates} duplicates, "
            f"{self.errors} errors"
        )
        if self.rows and not self.imported:
            text += ": nothing new to import"
        return text

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "errors": self.errors,
        }


def _check_bytes(raw: BinaryIO) -> str:
    """The encoding to read `raw` with, after one pass over it in chunks: refuses NUL bytes
    (a spreadsheet, an image, UTF-16) and bytes that are neither UTF-8 nor Windows-1252."""
    raw.seek(0)
    first = raw.read(3)
    encoding = "utf-8-sig" if first == codecs.BOM_UTF8 else "utf-8"
    for candidate in (encoding, FALLBACK_ENCODING):
        raw.seek(0)
        decoder = codecs.getincrementaldecoder(candidate)()
        has_text = False
        try:
            while chunk := raw.read(CHUNK):
                if b"\x00" in chunk:
                    raise ImportFileError(
                        "This is not a CSV file (it holds binary data). Save it as CSV "
                        "(comma, semicolon or tab separated) and upload it again."
                    )
                has_text = has_text or bool(chunk.strip())
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        if not has_text:
            raise ImportFileError("The file is empty.")
        return candidate
    raise ImportFileError(
        "The file's text is neither UTF-8 nor Windows-1252. Save it as CSV UTF-8 and upload it "
        "again."
    )


def _sniff_delimiter(sample: str) -> str:
    """The delimiter among , ; TAB: csv.Sniffer's guess when the header line holds it, else the
    one the header line holds most of (Sniffer is fooled by a sample of one column or cut off in
    a quoted field), else a comma."""
    # Only whole lines: a line cut off mid-field misleads the sniffer.
    if "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    first_line = sample.splitlines()[0] if sample.strip() else ""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ""
    if delimiter and delimiter in first_line:
        return delimiter
    counts = {candidate: first_line.count(candidate) for candidate in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


class CsvFile:
    """A CSV upload, checked on opening and read as `Row`s.

    `source` is a path or a binary file object that can seek (an uploaded file). Opening raises
    ImportFileError for a file over settings.IMPORT_MAX_BYTES, a binary or undecodable file, an
    empty file, a file with only a header and a header naming a column twice. `rows(report)`
    yields the data rows, blank lines skipped; a row with fewer cells than the header (or more,
    unless the extra ones are empty, as a trailing delimiter leaves them) is recorded as a row
    error in the report instead.
    """

    def __init__(self, source: str | os.PathLike | BinaryIO, *, count_rows: bool = False):
        self._count = count_rows
        self.row_count: int | None = None
        if isinstance(source, (str, os.PathLike)):
            self._raw = open(source, "rb")  # noqa: SIM115 (closed by close() / the with block)
            self._owns = True
        else:
            self._raw = source
            self._owns = False
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        raw = self._raw
        raw.seek(0, io.SEEK_END)
        size = raw.tell()
        limit = settings.IMPORT_MAX_BYTES
        if size > limit:
            raise ImportFileError(
                f"The file is {size / 1024 / 1024:.1f} MB; the limit is "
                f"{limit / 1024 / 1024:.0f} MB. Split it and upload the parts."
            )
        if size == 0:
            raise ImportFileError("The file is empty.")
        self.encoding = _check_bytes(raw)
        raw.seek(0)
        sample = raw.read(SNIFF_BYTES).decode(self.encoding, errors="ignore")
        self.delimiter = _sniff_delimiter(sample)
        if self._count:
            self.row_count = self._count_records()

        raw.seek(0)
        self._text = io.TextIOWrapper(raw, encoding=self.encoding, newline="")
        self._reader = csv.reader(self._text, delimiter=self.delimiter)
        self._last_line = 0
        first = next(self._numbered(), None)
        if first is None:
            raise ImportFileError("The file is empty.")
        _, cells = first
        self.header = [normalize_header(cell) for cell in cells]
        named = [name for name in self.header if name]
        repeated = sorted({name for name in named if named.count(name) > 1})
        if repeated:
            raise ImportFileError(f"The header names column '{repeated[0]}' more than once.")
        self._first_row = next(self._numbered(), None)
        if self._first_row is None:
            raise ImportFileError("The file has a header but no rows.")

    def _count_records(self) -> int:
        """The data rows (non-blank records after the header), in one more streamed pass."""
        self._raw.seek(0)
        text = io.TextIOWrapper(self._raw, encoding=self.encoding, newline="")
        try:
            # "".join(cells).strip(): whether any cell has more than spaces, in C.
            records = sum(
                1 for cells in csv.reader(text, delimiter=self.delimiter) if "".join(cells).strip()
            )
        finally:
            text.detach()
        return max(0, records - 1)

    @property
    def last_line(self) -> int:
        """The last file line read so far (a quoted field may have spanned several)."""
        return self._last_line

    def _numbered(self) -> Iterator[tuple[int, list[str]]]:
        """(starting line, cells) of each non-blank record."""
        for cells in self._reader:
            start, self._last_line = self._last_line + 1, self._reader.line_num
            if not "".join(cells).strip():  # blank: no cell holds more than spaces
                continue
            yield start, cells

    def rows(self, report: ImportReport, *, after_line: int = 0) -> Iterator[Row]:
        """The data rows, counted in `report`; those starting on or before `after_line` (settled
        by an earlier run of the same import) are skipped and not counted."""
        width = len(self.header)
        records = self._numbered()
        pending = [self._first_row] if self._first_row else []
        self._first_row = None
        for line, cells in _chain(pending, records):
            if line <= after_line:
                continue
            report.rows += 1
            if len(cells) < width or (len(cells) > width and any(c.strip() for c in cells[width:])):
                report.error(line, f"has {len(cells)} columns, the header has {width}")
                continue
            yield Row(
                line=line,
                values={
                    name: cell.strip()
                    for name, cell in zip(self.header, cells, strict=False)
                    if name
                },
            )

    def close(self) -> None:
        text = getattr(self, "_text", None)
        if self._owns:
            self._raw.close()
        elif text is not None:
            # The text layer would close the caller's file when collected; hand it back open.
            text.detach()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest
