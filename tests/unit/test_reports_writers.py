"""Report writers: CSV/JSON text and XLSX typed cells, read back with openpyxl."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from airtrack.reports.shape import COVERAGE, PLAYS, Column
from airtrack.reports.writers import CsvChunks, JsonChunks, XlsxFile, csv_safe

ROW = (
    7,
    "Paris FM",
    "2026-03-29T01:59:30+01:00",
    "2026-03-29T03:02:30+02:00",
    "+01:00",
    "2026-03-29T00:59:30+00:00",
    "2026-03-29T01:02:30+00:00",
    180.0,
    "Song, with a comma",
    "Artist",
    None,
    None,
    "FRABC2600001",
    None,
    "Ann; Bob",
    0.93,
    3,
    True,
    False,
    False,
)


def test_csv_and_json_keep_the_values() -> None:
    w = CsvChunks(PLAYS)
    text = (w.start() + w.batch([ROW]) + w.end()).decode()
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["title"] == "Song, with a comma" and row["clipped"] == "true"
    assert row["album"] == "" and row["start_local"] == "2026-03-29T01:59:30+01:00"
    j = JsonChunks(PLAYS)
    (obj,) = json.loads(j.start() + j.batch([ROW]) + j.end())
    assert obj["clipped"] is True and obj["album"] is None and obj["duration_s"] == 180.0


def test_xlsx_cells_are_typed_and_long_reports_continue_on_new_sheets(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    book = XlsxFile(path, "plays", PLAYS, max_rows=3)  # header + 2 rows per sheet
    book.add([ROW] * 5)
    book.close()
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["plays", "plays 2", "plays 3"]
    assert [wb[n].max_row for n in wb.sheetnames] == [3, 3, 2]
    ws = wb["plays 3"]
    assert ws.freeze_panes == "A2" and ws.cell(1, 1).value == "play_id"
    assert ws.cell(2, 3).value == datetime(2026, 3, 29, 1, 59, 30)  # local wall clock
    assert ws.cell(2, 4).value == datetime(2026, 3, 29, 3, 2, 30)
    assert ws.cell(2, 8).value == 180 and ws.cell(2, 18).value is True
    assert ws.cell(2, 11).value is None


def test_xlsx_days_are_dates(tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    book = XlsxFile(path, "coverage", COVERAGE)
    book.add([("Paris FM", "2026-03-01", 75600.0, 10800.0, None, None, None, None)])
    book.close()
    ws = openpyxl.load_workbook(path)["coverage"]
    assert ws.cell(2, 2).value == datetime(2026, 3, 1) and ws.cell(2, 3).value == 75600


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) not installed")
def test_libreoffice_opens_the_xlsx_with_typed_cells(tmp_path: Path) -> None:
    """LibreOffice itself reads the file: dates are dates, durations numbers, text text."""
    path = tmp_path / "r.xlsx"
    book = XlsxFile(path, "plays", PLAYS)
    book.add([ROW])
    book.close()
    profile = tmp_path / "lo-profile"  # a private profile: no clash with another soffice
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{profile}", "--headless",
         "--convert-to", "fods", "--outdir", str(tmp_path), str(path)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    flat = (tmp_path / "r.fods").read_text()
    types = re.findall(r'office:value-type="(\w+)"', flat)
    assert "date" in types and "float" in types and "string" in types, types[:40]
    assert 'office:date-value="2026-03-29T01:59:30"' in flat
    assert 'office:value="180"' in flat


HOSTILE = ('=HYPERLINK("http://x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx")


def test_csv_quotes_formula_text_but_not_numbers_or_offsets() -> None:
    """Text that a spreadsheet would run as a formula gets a leading quote (OWASP); typed
    numbers, negative ones too, and offsets like -05:00 stay as they are."""
    w = CsvChunks(PLAYS)
    rows = []
    for value in HOSTILE:
        r = list(ROW)
        r[1], r[4], r[7], r[8], r[9] = value, "-05:00", -1.5, value, value
        rows.append(tuple(r))
    text = (w.start() + w.batch(rows) + w.end()).decode()
    got = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [g["station"] for g in got] == ["'" + v for v in HOSTILE]
    assert [g["title"] for g in got] == ["'" + v for v in HOSTILE]
    assert [g["artist"] for g in got] == ["'" + v for v in HOSTILE]
    assert {g["utc_offset"] for g in got} == {"-05:00"}
    assert {g["duration_s"] for g in got} == {"-1.5"}
    assert {g["isrc"] for g in got} == {"FRABC2600001"}


def test_csv_safe_leaves_plain_text_and_signed_numbers() -> None:
    assert csv_safe("Song") == "Song" and csv_safe(None) is None and csv_safe(-3) == -3
    assert csv_safe("-12") == "-12" and csv_safe("+01:00") == "+01:00"
    assert csv_safe("-12 Grad") == "'-12 Grad" and csv_safe("=1") == "'=1"


def test_xlsx_keeps_formula_text_as_text(tmp_path: Path) -> None:
    """XLSX cells are strings, never formulas: the text comes back unchanged, unquoted."""
    path = tmp_path / "f.xlsx"
    book = XlsxFile(path, "plays", PLAYS)
    texts = HOSTILE[:-1]  # openpyxl reads a stored CR back as "_x000D_"
    book.add([(*ROW[:8], value, *ROW[9:]) for value in texts])
    book.close()
    ws = openpyxl.load_workbook(path)["plays"]
    cells = [ws.cell(i, 9) for i in range(2, 2 + len(texts))]
    assert [c.value for c in cells] == list(texts)
    assert {c.data_type for c in cells} == {"s"}


_CELL = st.one_of(
    st.none(),
    st.text(alphabet="=+-@\t\r\n,\"':.0123456789 aZ", max_size=8),
    st.sampled_from(["-05:00", "+01:00", "-1.5", "-2+3", "Song"]),
)


@given(st.lists(st.tuples(_CELL, _CELL, st.floats(-1e6, 1e6), _CELL), max_size=6))
def test_csv_batches_equal_quoting_every_text_cell(rows: list[tuple[object, ...]]) -> None:
    """The one search that skips the cell by cell pass never misses a formula cell."""
    cols = tuple(
        Column(n, k) for n, k in (("a", "text"), ("b", "text"), ("n", "float"), ("c", "text"))
    )
    want = io.StringIO()
    csv.writer(want).writerows(
        [[csv_safe(r[0]), csv_safe(r[1]), r[2], csv_safe(r[3])] for r in rows]
    )
    assert CsvChunks(cols).batch(rows).decode() == want.getvalue()
