"""Report writers fed batch by batch: CSV and JSON as byte chunks, XLSX into a file.

CSV and JSON are produced while rows arrive, so an export of any size holds one batch
in memory. XLSX (XlsxWriter in ``constant_memory`` mode: each row is flushed to a
temporary file as it is written) is assembled into a file on disk, which the caller
then sends or moves into place. Cells are typed: times as Excel dates in the column's
own zone (the wall-clock time; the zone or offset is in another column), durations and
counts as numbers; the header row is frozen; one sheet per report.

Every CSV airtrack writes goes through :func:`csv_safe` for its text cells: a value that a
spreadsheet would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) gets a leading single quote, as the OWASP advice on CSV injection says.
Titles come from catalog files and from stations' own stream titles, which anyone running
a monitored station controls. Numbers (typed columns, and text that is only a signed
number or offset such as ``-05:00``) are left as they are. XLSX cells are written as
strings, never formulas, so they need no quote (docs/security.md#titles-and-reports).
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from .shape import Column, ReportRow

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


_BOOL = {True: "true", False: "false", None: None}

#: First characters that make a spreadsheet read a cell as a formula (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Text that is only a (signed) number or a UTC offset: no formula, kept as it is.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.:][0-9]+)*")


_FIRST = frozenset(FORMULA_START)


def csv_safe(value: Any) -> Any:
    """``value`` as a CSV text cell may hold it: a leading ``'`` when a spreadsheet would
    read it as a formula; anything that is not a string is returned as is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return _quoted(value)
    return value


@functools.lru_cache(maxsize=4096)  # offsets such as -05:00 repeat on every row
def _quoted(value: str) -> str:
    return value if _PLAIN_NUMBER.fullmatch(value) else "'" + value


def csv_safe_row(row: Iterable[Any]) -> list[Any]:
    """Every cell of ``row`` through :func:`csv_safe` (CSV outputs without typed columns)."""
    return [csv_safe(v) for v in row]


class CsvChunks:
    """Header, then each batch as CSV bytes (RFC 4180, CRLF line ends)."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = columns
        self._bools = [i for i, c in enumerate(columns) if c.kind == "bool"]
        self._texts = [i for i, c in enumerate(columns) if c.kind == "text"]

    def start(self) -> bytes:
        return self._encode([[csv_safe(c.name) for c in self.columns]])

    def batch(self, rows: Iterable[ReportRow]) -> bytes:
        if not self._bools and not self._texts:
            return self._encode(rows)
        # column by column: a comprehension per column costs far less than a loop per cell
        cols = list(zip(*rows, strict=True))
        if not cols:
            return b""
        for i in self._bools:
            cols[i] = tuple(_BOOL[v] for v in cols[i])
        for i in self._texts:
            col = cols[i]
            firsts = {v[:1] for v in col if v.__class__ is str}
            if not firsts.isdisjoint(FORMULA_START):
                cols[i] = tuple(
                    _quoted(v) if v.__class__ is str and v[:1] in _FIRST else v for v in col
                )
        return self._encode(zip(*cols, strict=True))

    def end(self) -> bytes:
        return b""

    @staticmethod
    def _encode(rows: Iterable[Sequence[Any]]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        return buf.getvalue().encode()


class JsonChunks:
    """One JSON array of objects (column name → value), written as rows arrive."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.names = [c.name for c in columns]
        self._first = True

    def start(self) -> bytes:
        return b"["

    def batch(self, rows: Iterable[ReportRow]) -> bytes:
        parts = []
        for row in rows:
            sep = "\n" if self._first else ",\n"
            self._first = False
            parts.append(sep + json.dumps(dict(zip(self.names, row, strict=True))))
        return "".join(parts).encode()

    def end(self) -> bytes:
        return b"\n]\n"


def text_chunks(fmt: str, columns: Sequence[Column]) -> CsvChunks | JsonChunks:
    return CsvChunks(columns) if fmt == "csv" else JsonChunks(columns)


async def encode(
    fmt: str, columns: Sequence[Column], batches: AsyncIterator[list[ReportRow]]
) -> AsyncIterator[bytes]:
    """CSV or JSON bytes of a report, one chunk per batch."""
    w = text_chunks(fmt, columns)
    yield w.start()
    async for rows in batches:
        chunk = w.batch(rows)
        if chunk:
            yield chunk
    tail = w.end()
    if tail:
        yield tail


#: Rows an XLSX sheet holds (Excel and LibreOffice); a longer report continues on
#: "<report> 2", "<report> 3", … each with its own header row.
XLSX_MAX_ROWS = 1_048_576
_EPOCH = datetime(1899, 12, 30)  # Excel's day 0 (1900 date system)
_DAY_S = 86_400.0


def _serial(text: str) -> float:
    """An Excel date-time serial from ISO text (its wall-clock part), as XlsxWriter would
    compute it, without its per-cell type dispatch: the hot loop of a big export."""
    delta = datetime.fromisoformat(text[:19]) - _EPOCH
    return delta.days + delta.seconds / _DAY_S


class XlsxFile:
    """One sheet named after the report, typed cells, frozen header row."""

    def __init__(
        self, path: Path, sheet: str, columns: Sequence[Column], *, max_rows: int = XLSX_MAX_ROWS
    ) -> None:
        self.book = xlsxwriter.Workbook(
            str(path), {"constant_memory": True, "strings_to_numbers": False}
        )
        self.name = sheet
        self.columns = columns
        self.max_rows = max_rows
        self._bold = self.book.add_format({"bold": True})
        time_fmt = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        date_fmt = self.book.add_format({"num_format": "yyyy-mm-dd"})
        self.sheets = 0
        self._new_sheet()
        # (column, convert, write, format) once, not a type switch per cell
        self._plan: list[tuple[int, Any, Any, Any]] = []
        for i, c in enumerate(columns):
            if c.kind == "time":
                self._plan.append((i, _serial, "number", time_fmt))
            elif c.kind == "date":
                self._plan.append((i, lambda v: _serial(v + "T00:00:00"), "number", date_fmt))
            elif c.kind in ("int", "float"):
                self._plan.append((i, None, "number", None))
            elif c.kind == "bool":
                self._plan.append((i, None, "boolean", None))
            else:
                self._plan.append((i, str, "string", None))

    def _new_sheet(self) -> None:
        self.sheets += 1
        name = self.name if self.sheets == 1 else f"{self.name} {self.sheets}"
        self.sheet = ws = self.book.add_worksheet(name)
        for i, c in enumerate(self.columns):
            width = {"time": 20, "date": 12, "text": 24}.get(c.kind, 12)
            ws.set_column(i, i, max(width, len(c.name) + 2))
        ws.freeze_panes(1, 0)
        for i, c in enumerate(self.columns):
            ws.write_string(0, i, c.name, self._bold)
        self.row = 1

    def _bound(self) -> list[tuple[int, Any, Any, Any]]:
        ws = self.sheet
        writers = {
            "number": ws.write_number,
            "boolean": ws.write_boolean,
            "string": ws.write_string,
        }
        return [(i, conv, writers[w], fmt) for i, conv, w, fmt in self._plan]

    def add(self, rows: Iterable[ReportRow]) -> None:
        plan = self._bound()
        for row in rows:
            if self.row >= self.max_rows:
                self._new_sheet()
                plan = self._bound()
            r = self.row
            for i, conv, write, fmt in plan:
                v = row[i]
                if v is None:
                    continue
                write(r, i, conv(v) if conv else v, fmt)
            self.row += 1

    def close(self) -> None:
        self.book.close()


async def write_xlsx(
    path: Path, sheet: str, columns: Sequence[Column], batches: AsyncIterator[list[ReportRow]]
) -> None:
    """Write the sheet batch by batch. The cell writing and the final zip run in a thread:
    in the orchestrator they would otherwise hold the event loop for seconds (heartbeats)."""
    book = XlsxFile(path, sheet, columns)
    try:
        async for rows in batches:
            await asyncio.to_thread(book.add, rows)
    finally:
        await asyncio.to_thread(book.close)
