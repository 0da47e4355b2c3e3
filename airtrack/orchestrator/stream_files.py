"""Stream metadata: check one stream's fields, and read the lists radio people keep
(M3U/M3U8 playlists, PLS, CSV) into entries with line numbers (pure; no I/O).

A problem with one entry is a line "line N: ..."; the caller refuses the file when there
is any, so a file is imported completely or not at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Literal

from airtrack.checks import EXTRA_KEY_MAX, check_extra_count
from airtrack.errors import StreamFieldError, StreamImportError
from airtrack.listfile import csv_records, decode_list_file
from airtrack.protocol import check_stream_name, check_stream_url, check_timezone

__all__ = [
    "TEXT_FIELDS",
    "FileFormat",
    "StreamEntry",
    "check_stream_fields",
    "detect_format",
    "parse_streams",
]

FileFormat = Literal["m3u", "pls", "csv"]
#: Free-text columns of ``streams`` besides name and URL.
TEXT_FIELDS = ("country", "region", "city", "genre")
_CSV_COLUMNS = ("name", "url", "backup_urls", "timezone", *TEXT_FIELDS, "stats_url")
_MAX_TEXT = 500


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One stream of a file: the fields it gives (others are left as they are)."""

    line: int
    name: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)


def _text(name: str, value: str) -> str | None:
    text = value.strip()
    if "\x00" in text:
        raise StreamFieldError(f"{name} must not contain NUL characters")
    if len(text) > _MAX_TEXT:
        raise StreamFieldError(f"{name} is longer than {_MAX_TEXT} characters")
    return text or None


def check_stream_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` checked and normalised (URLs, time zone, text); raises ``StreamFieldError``."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        try:
            if name == "name":
                text = _text(name, value)
                if not text or len(text) > 200:
                    raise StreamFieldError("a stream name is 1 to 200 characters")
                out[name] = check_stream_name(text)
            elif name == "url":
                out[name] = check_stream_url(value)
            elif name == "backup_urls":
                out[name] = [check_stream_url(u) for u in value]
            elif name == "stats_url":  # the listener statistics endpoint; None removes it
                out[name] = None if value is None or not value.strip() else check_stream_url(value)
            elif name == "timezone":
                out[name] = check_timezone(value)
            elif name in TEXT_FIELDS:
                out[name] = None if value is None else _text(name, value)
            else:
                raise StreamFieldError(f"unknown field {name!r}")
        except ValueError as exc:
            raise StreamFieldError(str(exc)) from None
    return out


def detect_format(file_name: str, text: str) -> FileFormat:
    """By extension, else by the first line; raises ``StreamImportError``."""
    ext = PurePath(file_name).suffix.lower()
    if ext in (".m3u", ".m3u8"):
        return "m3u"
    if ext in (".pls", ".csv"):
        return "pls" if ext == ".pls" else "csv"
    first = text.lstrip().split("\n", 1)[0].strip().lower()
    if first.startswith("#extm3u"):
        return "m3u"
    if first == "[playlist]":
        return "pls"
    if first.startswith("name,") or ",url" in first:
        return "csv"
    raise StreamImportError(
        f"cannot tell the format of {file_name!r}: name it .m3u, .m3u8, .pls or .csv "
        "(or pass --format)"
    )


def parse_streams(
    data: bytes, file_name: str, max_bytes: int, fmt: FileFormat | None = None
) -> tuple[list[StreamEntry], list[str]]:
    """Entries of a streams file and the problems of its bad lines.

    A problem with the file as a whole (size, encoding, format, header) raises
    ``StreamImportError``.
    """
    text = decode_list_file(data, max_bytes, StreamImportError)
    kind = fmt or detect_format(file_name, text)
    if kind == "m3u":
        entries, problems = _m3u(text)
    elif kind == "pls":
        entries, problems = _pls(text)
    else:
        entries, problems = _csv(text)
    if not entries and not problems:
        raise StreamImportError(f"no stations in {file_name!r}")
    seen: dict[str, int] = {}
    for e in entries:
        if e.name in seen:
            problems.append(f"line {e.line}: {e.name!r} is also on line {seen[e.name]}")
        seen.setdefault(e.name, e.line)
    return entries, problems


def _entry(line: int, raw: Mapping[str, Any], extra: Mapping[str, str]) -> StreamEntry:
    fields = check_stream_fields(raw)
    name = fields.pop("name", None)
    if not name:
        raise StreamFieldError("no station name")
    return StreamEntry(line, name, fields, extra)


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]


_EXTINF = re.compile(r"^#EXTINF:[^,]*,(.*)$", re.IGNORECASE)


def _m3u(text: str) -> tuple[list[StreamEntry], list[str]]:
    entries: list[StreamEntry] = []
    problems: list[str] = []
    title: str | None = None
    for n, line in _lines(text):
        if not line:
            continue
        if line.startswith("#"):
            m = _EXTINF.match(line)
            if m:
                title = m.group(1).strip() or None
            continue
        try:
            if title is None:
                raise StreamFieldError(
                    f"{line[:80]!r} has no name (an #EXTINF:-1,Name line before it)"
                )
            entries.append(_entry(n, {"name": title, "url": line}, {}))
        except StreamFieldError as exc:
            problems.append(f"line {n}: {exc}")
        title = None
    return entries, problems


_PLS_KEY = re.compile(r"^(file|title|length)(\d+)$", re.IGNORECASE)


def _pls(text: str) -> tuple[list[StreamEntry], list[str]]:
    lines = [(n, line) for n, line in _lines(text) if line and not line.startswith((";", "#"))]
    if not lines or lines[0][1].lower() != "[playlist]":
        at = lines[0][0] if lines else 1
        raise StreamImportError(f"line {at}: a PLS file starts with [playlist]")
    files: dict[int, tuple[int, str]] = {}
    titles: dict[int, str] = {}
    problems: list[str] = []
    for n, line in lines[1:]:
        key, sep, value = line.partition("=")
        m = _PLS_KEY.match(key.strip())
        if not sep:
            problems.append(f"line {n}: expected Key=Value, got {line[:80]!r}")
        elif m and m.group(1).lower() == "file":
            files[int(m.group(2))] = (n, value.strip())
        elif m and m.group(1).lower() == "title":
            titles[int(m.group(2))] = value.strip()
    entries: list[StreamEntry] = []
    for i, (n, url) in sorted(files.items(), key=lambda kv: kv[1][0]):
        try:
            if not titles.get(i):
                raise StreamFieldError(f"File{i} has no Title{i}: every station needs a name")
            entries.append(_entry(n, {"name": titles[i], "url": url}, {}))
        except StreamFieldError as exc:
            problems.append(f"line {n}: {exc}")
    return entries, problems


def _csv(text: str) -> tuple[list[StreamEntry], list[str]]:
    records = csv_records(text, StreamImportError)
    header_line, header = records[0]
    names = [h.strip().lower() for h in header]
    # extra.KEY keeps the KEY as written; the known columns are matched in any case
    names = [h.strip() if n.startswith("extra.") else n for n, h in zip(names, header, strict=True)]
    bad = [
        f"line {header_line}: unknown column {h!r} (known: {', '.join(_CSV_COLUMNS)}, extra.KEY)"
        for h in names
        if h not in _CSV_COLUMNS and not (h.lower().startswith("extra.") and len(h) > 6)
    ]
    missing = [c for c in ("name", "url") if c not in names]
    if missing:
        bad.append(
            f"line {header_line}: missing column{'s' * (len(missing) > 1)}: " + ", ".join(missing)
        )
    if len(set(names)) != len(names):
        bad.append(f"line {header_line}: a column appears twice")
    extras = [h for h in names if h.lower().startswith("extra.")]
    try:
        check_extra_count(len(extras))
    except ValueError as exc:
        bad.append(f"line {header_line}: {exc} (extra.* columns)")
    bad += [
        f"line {header_line}: column {h[:40]!r}…: extra keys are at most {EXTRA_KEY_MAX} characters"
        for h in extras
        if len(h) - 6 > EXTRA_KEY_MAX
    ]
    if bad:
        raise StreamImportError("the header is refused", bad)
    entries: list[StreamEntry] = []
    problems: list[str] = []
    for n, cells in records[1:]:
        if len(cells) != len(names):
            problems.append(f"line {n}: {len(cells)} fields, the header has {len(names)}")
            continue
        row = dict(zip(names, cells, strict=True))
        raw: dict[str, Any] = {}
        extra: dict[str, str] = {}
        for col, cell in row.items():
            value = cell.strip()
            if not value:
                continue  # an empty cell leaves the field as it is
            if col.lower().startswith("extra."):
                extra[col[6:]] = value
            elif col == "backup_urls":
                raw[col] = [u for u in re.split(r"[\s|]+", value) if u]
            else:
                raw[col] = value
        try:
            if "url" not in raw:
                raise StreamFieldError("no url")
            entries.append(_entry(n, raw, extra))
        except StreamFieldError as exc:
            problems.append(f"line {n}: {exc}")
    return entries, problems
