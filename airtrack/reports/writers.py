"""Report writers fed batch by batch: CSV and JSON as byte chunks, XLSX into a file.

CSV and JSON are produced while rows arrive, so an export of any size holds one batch
in memory. XLSX (XlsxWriter in ``constant_memory`` mode: each row is flushed to a
temporary file as it is written) is assembled into a file on disk, which the caller
then sends or moves into place. Cells are typed: times as Excel dates in the column's
own zone (the wall-clock time; the zone or offset is in another column), durations and
counts as numbers; the header row is frozen; one sheet per report.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date, datetime
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


class CsvChunks:
    """Header, then each batch as CSV bytes (RFC 4180, CRLF line ends)."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = columns
        self._bools = [i for i, c in enumerate(columns) if c.kind == "bool"]

    def start(self) -> bytes:
        return self._encode([[c.name for c in self.columns]])

    def batch(self, rows: Iterable[ReportRow]) -> bytes:
        if not self._bools:
            return self._encode(rows)
        bools = self._bools
        out = []
        for row in rows:
            r = list(row)
            for i in bools:
                r[i] = _BOOL[r[i]]
            out.append(r)
        return self._encode(out)

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


class XlsxFile:
    """One sheet named after the report, typed cells, frozen header row."""

    def __init__(self, path: Path, sheet: str, columns: Sequence[Column]) -> None:
        self.book = xlsxwriter.Workbook(
            str(path), {"constant_memory": True, "strings_to_numbers": False}
        )
        self.sheet = self.book.add_worksheet(sheet)
        self.columns = columns
        bold = self.book.add_format({"bold": True})
        self._time = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._date = self.book.add_format({"num_format": "yyyy-mm-dd"})
        for i, c in enumerate(columns):
            width = {"time": 20, "date": 12, "text": 24}.get(c.kind, 12)
            self.sheet.set_column(i, i, max(width, len(c.name) + 2))
        self.sheet.freeze_panes(1, 0)
        for i, c in enumerate(columns):
            self.sheet.write_string(0, i, c.name, bold)
        self.row = 1

    def add(self, rows: Iterable[ReportRow]) -> None:
        ws, kinds = self.sheet, [c.kind for c in self.columns]
        for row in rows:
            r = self.row
            for i, (kind, v) in enumerate(zip(kinds, row, strict=True)):
                if v is None:
                    continue
                if kind == "time":  # the wall-clock part of the ISO text
                    ws.write_datetime(r, i, datetime.fromisoformat(v[:19]), self._time)
                elif kind == "date":
                    ws.write_datetime(r, i, date.fromisoformat(v), self._date)
                elif kind in ("int", "float"):
                    ws.write_number(r, i, v)
                elif kind == "bool":
                    ws.write_boolean(r, i, v)
                else:
                    ws.write_string(r, i, str(v))
            self.row += 1

    def close(self) -> None:
        self.book.close()


async def write_xlsx(
    path: Path, sheet: str, columns: Sequence[Column], batches: AsyncIterator[list[ReportRow]]
) -> None:
    book = XlsxFile(path, sheet, columns)
    try:
        async for rows in batches:
            book.add(rows)
    finally:
        book.close()
