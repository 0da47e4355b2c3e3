"""Report templates: a society's column list as a small TOML file (docs/reports.md#templates).

A template draws its columns from the plays report's fields, in its own order and with
its own headers, delimiter, quoting, date and time formats and encoding, one row per
play or one per recording (station, track and credits) over the range::

    name = "A plain log"
    rows = "per-play"            # or "per-recording"
    delimiter = ","              # one character; "\\t" for tabs
    quoting = "minimal"          # "all", or "none" (the delimiter is then replaced by a space)
    header = true
    line_end = "crlf"            # or "lf"
    encoding = "utf-8"           # or "ascii" (transliterated, docs/reports.md)
    date_format = "%Y-%m-%d"     # strftime, station-local
    time_format = "%H:%M:%S"

    [[columns]]
    header = "Title"
    field = "title"

Pure: rows of the plays report in, bytes out. Templates shipped with airtrack live in
``airtrack/reports/templates_shipped/`` and are named without ``.toml`` (``--template prs-radio``).
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from airtrack.catalog.metadata import TRACK_TEXT_FIELDS
from airtrack.errors import ReportTemplateError

from .ascii import to_ascii
from .shape import PLAYS, ReportRow

__all__ = [
    "PER_PLAY_FIELDS",
    "PER_RECORDING_FIELDS",
    "Template",
    "load_template",
    "parse_template",
    "render_template",
    "shipped_templates",
]

_PLAY_NAMES = tuple(c.name for c in PLAYS)
#: Fields a per-play row has: the plays report's columns and these derived from them.
PER_PLAY_FIELDS = (
    *_PLAY_NAMES,
    "date",  # start, station-local, as date_format
    "time",  # start, station-local, as time_format
    "end_date",
    "end_time",
    "utc_date",
    "utc_time",
    "duration",  # M:SS (minutes may pass 59)
    "duration_hms",  # H:MM:SS
    "plays",  # 1
)
#: Fields a per-recording row has (one row per station, track and credits).
PER_RECORDING_FIELDS = (
    "station",
    "track_id",
    *TRACK_TEXT_FIELDS,
    "composer",
    "plays",
    "airtime_s",
    "duration",  # the longest airing, M:SS
    "duration_hms",
    "first_date",
    "first_time",
    "last_date",
    "last_time",
)
_KEYS = {
    "name",
    "description",
    "rows",
    "delimiter",
    "quoting",
    "header",
    "line_end",
    "encoding",
    "date_format",
    "time_format",
    "columns",
}
_QUOTING: dict[str, Literal[0, 1, 2, 3]] = {
    "minimal": csv.QUOTE_MINIMAL,
    "all": csv.QUOTE_ALL,
    "none": csv.QUOTE_NONE,
}
_EOL = {"crlf": "\r\n", "lf": "\n"}
SHIPPED = "airtrack.reports.templates_shipped"


@dataclass(frozen=True)
class Template:
    name: str
    rows: str
    delimiter: str
    quoting: str
    header: bool
    line_end: str
    encoding: str
    date_format: str
    time_format: str
    columns: tuple[tuple[str, str], ...]  # (header, field)


def _str(doc: dict[str, Any], key: str, default: str) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise ReportTemplateError(f"template {key!r} must be a string")
    return value


def _choice(doc: dict[str, Any], key: str, default: str, allowed: Iterable[str]) -> str:
    value = _str(doc, key, default)
    if value not in allowed:
        raise ReportTemplateError(f"template {key} {value!r}: one of {', '.join(allowed)}")
    return value


def parse_template(text: str, where: str = "template") -> Template:
    """Check a template; raises :class:`ReportTemplateError` naming the problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReportTemplateError(f"{where}: not TOML: {exc}") from None
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise ReportTemplateError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})"
        )
    rows = _choice(doc, "rows", "per-play", ("per-play", "per-recording"))
    delimiter = _str(doc, "delimiter", ",")
    if len(delimiter) != 1 or delimiter in '\r\n"':
        raise ReportTemplateError(f"{where}: delimiter must be one character, not a quote")
    header = doc.get("header", True)
    if not isinstance(header, bool):
        raise ReportTemplateError(f"{where}: header must be true or false")
    for key in ("date_format", "time_format"):
        fmt = _str(doc, key, "%Y-%m-%d" if key == "date_format" else "%H:%M:%S")
        try:
            datetime(2026, 1, 2, 3, 4, 5).strftime(fmt)
        except ValueError:
            raise ReportTemplateError(f"{where}: {key} {fmt!r} is not a strftime format") from None
    known = PER_PLAY_FIELDS if rows == "per-play" else PER_RECORDING_FIELDS
    raw = doc.get("columns")
    if not isinstance(raw, list) or not raw:
        raise ReportTemplateError(f"{where}: no [[columns]]")
    columns = []
    for n, col in enumerate(raw, 1):
        if not isinstance(col, dict) or not isinstance(col.get("field"), str):
            raise ReportTemplateError(f'{where}: column {n} needs field = "..."')
        extra = sorted(set(col) - {"field", "header"})
        if extra:
            raise ReportTemplateError(f"{where}: column {n}: unknown key {extra[0]!r}")
        field = col["field"]
        if field not in known:
            raise ReportTemplateError(
                f"{where}: column {n}: unknown field {field!r}; a {rows} row has: "
                + ", ".join(known)
            )
        head = col.get("header", field)
        if not isinstance(head, str):
            raise ReportTemplateError(f"{where}: column {n}: header must be a string")
        columns.append((head, field))
    return Template(
        name=_str(doc, "name", where),
        rows=rows,
        delimiter=delimiter,
        quoting=_choice(doc, "quoting", "minimal", _QUOTING),
        header=header,
        line_end=_EOL[_choice(doc, "line_end", "crlf", _EOL)],
        encoding=_choice(doc, "encoding", "utf-8", ("utf-8", "ascii")),
        date_format=_str(doc, "date_format", "%Y-%m-%d"),
        time_format=_str(doc, "time_format", "%H:%M:%S"),
        columns=tuple(columns),
    )


def shipped_templates() -> dict[str, str]:
    """The templates shipped with airtrack: name → TOML text."""
    folder = resources.files(SHIPPED)
    return {
        e.name.removesuffix(".toml"): e.read_text("utf-8")
        for e in folder.iterdir()
        if e.name.endswith(".toml")
    }


def load_template(ref: str) -> Template:
    """A shipped template by name, or a template file by path."""
    shipped = shipped_templates()
    if ref in shipped:
        return parse_template(shipped[ref], ref)
    path = Path(ref)
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportTemplateError(
            f"--template {ref!r}: not a shipped template ({', '.join(sorted(shipped))}) and "
            f"not a readable file ({exc.__class__.__name__})"
        ) from None
    return parse_template(text, str(path))


def _mmss(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def _hms(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _when(t: Template, text: str) -> tuple[str, str]:
    at = datetime.fromisoformat(text)
    return at.strftime(t.date_format), at.strftime(t.time_format)


def _per_play(t: Template, row: ReportRow) -> dict[str, Any]:
    d = dict(zip(_PLAY_NAMES, row, strict=True))
    d["date"], d["time"] = _when(t, d["start_local"])
    d["end_date"], d["end_time"] = _when(t, d["end_local"])
    d["utc_date"], d["utc_time"] = _when(t, d["start_utc"])
    d["duration"] = _mmss(float(d["duration_s"]))
    d["duration_hms"] = _hms(float(d["duration_s"]))
    d["plays"] = 1
    return d


def _per_recording(t: Template, rows: Iterable[ReportRow]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        d = dict(zip(_PLAY_NAMES, row, strict=True))
        key = tuple(d[k] for k in ("station", "track_id", "title", "artist", "isrc"))
        g = groups.get(key)
        if g is None:
            g = groups[key] = {k: d[k] for k in PER_RECORDING_FIELDS if k in d}
            g.update(plays=0, airtime_s=0.0, longest=0.0, first=d["start_local"])
        g["plays"] += 1
        g["airtime_s"] += float(d["duration_s"])
        g["longest"] = max(g["longest"], float(d["duration_s"]))
        g["last"] = d["start_local"]  # rows come in time order per station
    out = []
    for g in groups.values():
        g["airtime_s"] = round(g["airtime_s"], 3)
        g["duration"], g["duration_hms"] = _mmss(g["longest"]), _hms(g["longest"])
        g["first_date"], g["first_time"] = _when(t, g["first"])
        g["last_date"], g["last_time"] = _when(t, g["last"])
        out.append(g)
    return out


def _cell(t: Template, value: Any) -> str:
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if t.encoding == "ascii":
        text = to_ascii(text)
    if t.quoting == "none":
        text = text.replace(t.delimiter, " ").replace("\r", " ").replace("\n", " ")
    return text


def render_template(t: Template, rows: Iterable[ReportRow]) -> bytes:
    """The plays report's ``rows`` (in PLAYS column order) as ``t`` lays them out."""
    records = (_per_play(t, r) for r in rows) if t.rows == "per-play" else _per_recording(t, rows)
    buf = io.StringIO()
    writer = csv.writer(
        buf,
        delimiter=t.delimiter,
        quoting=_QUOTING[t.quoting],
        lineterminator=t.line_end,
        quotechar=None if t.quoting == "none" else '"',
    )
    if t.header:
        writer.writerow([_cell(t, h) for h, _ in t.columns])
    for rec in records:
        writer.writerow([_cell(t, rec.get(f)) for _, f in t.columns])
    return buf.getvalue().encode(t.encoding)
