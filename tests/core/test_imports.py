"""The import engine: files as people have them, read as numbered rows, or refused whole."""

import pytest
from django.test import override_settings

from mike.core.imports import CsvFile, ImportFileError, ImportReport


def _rows(path):
    report = ImportReport()
    with CsvFile(path) as file:
        rows = list(file.rows(report))
    return file, rows, report


def test_utf8_bom_crlf_and_stray_header_spaces(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbf First Name ,Last-Name,PHONE\r\nZo\xc3\xab,O'Neil,555\r\n")
    file, rows, report = _rows(path)
    assert file.header == ["first_name", "last_name", "phone"]
    assert rows[0].values == {"first_name": "Zoë", "last_name": "O'Neil", "phone": "555"}
    assert rows[0].line == 2 and report.rows == 1


def test_windows_1252_accents_and_curly_apostrophe(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("name;city\r\nJosé O’Brien;Montréal\r\n".encode("cp1252"))
    file, rows, _ = _rows(path)
    assert file.encoding == "cp1252" and file.delimiter == ";"
    assert rows[0].values == {"name": "José O’Brien", "city": "Montréal"}


def test_tab_delimiter_quoted_newline_blank_lines_and_line_numbers(tmp_path):
    path = tmp_path / "a.tsv"
    path.write_text('a\tb\n\n1\t"two\nlines"\n\n3\t4\n', encoding="utf-8")
    file, rows, _ = _rows(path)
    assert file.delimiter == "\t"
    assert [(row.line, row.values["b"]) for row in rows] == [(3, "two\nlines"), (6, "4")]


def test_single_column_falls_back_to_comma(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("email\nx@example.com\n")
    file, rows, _ = _rows(path)
    assert file.delimiter == "," and rows[0].values == {"email": "x@example.com"}


def test_short_row_is_a_row_error_and_trailing_empty_cells_are_ignored(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,b,c\n1,2\n1,2,3,\n1,2,3,4\n")
    _, rows, report = _rows(path)
    assert [row.line for row in rows] == [3]
    assert report.rows == 3 and report.errors == 2
    assert report.problems == [
        (2, "has 2 columns, the header has 3"),
        (4, "has 4 columns, the header has 3"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\r\n\r\n  \n", "empty"),
        (b"first_name,phone\r\n", "header but no rows"),
        (b"first_name,phone\r\n\r\n\r\n", "header but no rows"),
        (b"PK\x03\x04\x00\x00binary", "binary"),
        ("a,b\n1,2\n".encode("utf-16"), "binary"),
        (b"a,b\n\x81\x8d,2\n", "neither UTF-8 nor Windows-1252"),
        (b"a,A \n1,2\n", "more than once"),
    ],
)
def test_refused_files(tmp_path, content, message):
    path = tmp_path / "a.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        CsvFile(path)


@override_settings(IMPORT_MAX_BYTES=10)
def test_file_over_the_limit_is_refused(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(ImportFileError, match="the limit is"):
        CsvFile(path)


def test_report_summary_says_when_nothing_was_new():
    report = ImportReport(rows=3)
    report.error(5, "phone '=HYPERLINK(1)' is not a valid number")
    report.duplicate(3, "duplicate of line 2")
    assert report.summary() == "3 rows, 0 imported, 1 duplicates, 1 errors: nothing new to import"


def test_an_uploaded_file_object_is_read_and_left_open():
    from io import BytesIO

    upload = BytesIO(b"phone\r\n555-201-0001\r\n")
    report = ImportReport()
    with CsvFile(upload) as file:
        rows = list(file.rows(report))
    assert rows[0].values == {"phone": "555-201-0001"} and not upload.closed
