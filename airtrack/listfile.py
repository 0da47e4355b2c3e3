"""Files people keep lists in (CSV, M3U, PLS): a size cap, then UTF-8 text with line numbers.

Both ``catalog import-metadata`` and ``streams import`` read their file through here, so a
file that is too large or not UTF-8 is refused the same way, naming the line of the first
undecodable byte.
"""

from __future__ import annotations

import csv
import io

from airtrack.errors import AirtrackError

__all__ = ["csv_records", "decode_list_file"]


def decode_list_file(data: bytes, max_bytes: int, error: type[AirtrackError]) -> str:
    """``data`` as text (a UTF-8 BOM is dropped); raises ``error`` with one line."""
    if len(data) > max_bytes:
        raise error(
            f"the file is {len(data):,} bytes; the limit is {max_bytes:,} "
            "(AIRTRACK_IMPORT_MAX_BYTES): split it"
        )
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise error(f"line {line}: NUL byte: this is not a text file (or it is UTF-16)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(
            f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        ) from None


def csv_records(text: str, error: type[AirtrackError]) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` for each non-blank CSV record (quoted fields may span lines),
    the header first.

    Raises ``error`` for malformed quoting (its message names the line) and for a file
    without even a header row.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                records.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise error(f"malformed CSV: {exc}") from None
    if not records:
        raise error("the file is empty: expected a header row")
    return records
