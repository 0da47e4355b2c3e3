"""SoundExchange's Report of Use: the monthly census file US webcasters deliver.

The format (docs/reports.md#soundexchange-report-of-use cites the sources):

* ASCII text; the first row holds the column headers; fields are separated by ``|``;
  rows end with CR LF;
* every text field is wrapped in carets (``^...^``) with ``^`` and ``|`` removed from the
  value; numbers are bare; non-ASCII text is transliterated (:mod:`.ascii`);
* columns ``NAME_OF_SERVICE``, ``TRANSMISSION_CATEGORY``, ``FEATURED_ARTIST``,
  ``SOUND_RECORDING_TITLE``, ``ISRC``, ``ALBUM_TITLE``, ``MARKETING_LABEL``,
  ``ACTUAL_TOTAL_PERFORMANCES``, then ``PLAY_FREQUENCY`` when asked for, or when a
  recording has no listener figure (its performances are then empty and the play count
  is all SoundExchange gets);
* one row per recording per station over the period;
* the file is named ``<service><first day>_<last day>_<category>.txt``
  (``KXYZ20260301_20260331_A.txt``).

SoundExchange identifies a recording by its ISRC, or by album title and marketing label
together; a row with neither is still written (it was performed) and is listed for the
operator to complete (the CLI on stderr, the API in a header).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airtrack.db import Database, Row
from airtrack.errors import ReportRequestError
from airtrack.settings import Settings

from .ascii import to_ascii
from .request import Bound, ReportRequest
from .service import prepare

__all__ = [
    "CATEGORIES",
    "COLUMNS",
    "SoundExchangeFile",
    "check_options",
    "file_name",
    "render",
    "soundexchange",
]

#: Transmission categories of 37 CFR 370.4 (D to G are reserved).
CATEGORIES = {
    "A": "eligible nonsubscription transmissions (not broadcast simulcasts, not non-music)",
    "B": "eligible nonsubscription transmissions of broadcast simulcast programming",
    "C": "eligible nonsubscription transmissions of news, talk, sports or business programming",
    "H": "new subscription service: transmissions other than simulcasts and non-music",
    "I": "new subscription service: broadcast simulcast programming",
    "J": "new subscription service: news, talk, sports or business programming",
    "K": "business establishment service making ephemeral recordings",
    "L": "preexisting satellite digital audio radio service",
}
COLUMNS = (
    "NAME_OF_SERVICE",
    "TRANSMISSION_CATEGORY",
    "FEATURED_ARTIST",
    "SOUND_RECORDING_TITLE",
    "ISRC",
    "ALBUM_TITLE",
    "MARKETING_LABEL",
    "ACTUAL_TOTAL_PERFORMANCES",
)
PLAY_FREQUENCY = "PLAY_FREQUENCY"
#: The response header listing recordings without ISRC or album + label (JSON array).
UNIDENTIFIED_HEADER = "X-Airtrack-Unidentified"
#: The listing header stays under this many bytes (HTTP clients cap a response's header
#: block, h11 at 16 KiB); the count header has them all.
UNIDENTIFIED_HEADER_BYTES = 4096
UNIDENTIFIED_COUNT_HEADER = "X-Airtrack-Unidentified-Count"
_EOL = "\r\n"
#: The columns of ``report_soundexchange``, in order.
_FIELDS = ("station", "artist", "title", "isrc", "album", "label", "plays", "performances")
_NOT_NAME = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class SoundExchangeFile:
    name: str
    body: bytes
    rows: int
    #: recordings with neither an ISRC nor both album and label ("station: artist - title")
    unidentified: list[str]

    def header_list(self) -> str:
        """The first unidentified recordings as an ASCII JSON array, within
        :data:`UNIDENTIFIED_HEADER_BYTES` (for a response header)."""
        listed: list[str] = []
        size = 2
        for item in self.unidentified:
            size += len(json.dumps(item, ensure_ascii=True)) + 2
            if size > UNIDENTIFIED_HEADER_BYTES:
                break
            listed.append(item)
        return json.dumps(listed, ensure_ascii=True)


def check_options(service_name: str | None, category: str | None, stations: int) -> str:
    """The category, checked; raises :class:`ReportRequestError`."""
    cat = (category or "").strip().upper()
    if cat not in CATEGORIES:
        raise ReportRequestError(
            f"--category {category!r}: one of "
            + ", ".join(f"{k} ({v})" for k, v in CATEGORIES.items())
        )
    if service_name is not None and not to_ascii(service_name).replace("^", "").strip():
        raise ReportRequestError("--service-name must have letters or digits")
    if service_name is not None and stations > 1:
        raise ReportRequestError(
            "--service-name names one station's service: give one --stream, or leave it "
            "out to use each station's name"
        )
    return cat


def _text(value: Any) -> str:
    raw = "" if value is None else str(value)
    return "^" + to_ascii(raw.replace("^", "").replace("|", "")) + "^"


def _number(value: Any) -> str:
    return "" if value is None else str(int(value))


def render(
    rows: Sequence[Row], *, service_name: str | None, category: str, play_frequency: bool
) -> tuple[str, list[str]]:
    """The file's text and the unidentified recordings, from ``report_soundexchange`` rows."""
    frequency = play_frequency or any(r["performances"] is None for r in rows)
    lines = ["|".join(COLUMNS + ((PLAY_FREQUENCY,) if frequency else ()))]
    unidentified: list[str] = []
    for r in rows:
        service = service_name if service_name is not None else r["station"]
        cells = [
            _text(service),
            _text(category),
            _text(r["artist"]),
            _text(r["title"]),
            _text(r["isrc"]),
            _text(r["album"]),
            _text(r["label"]),
            _number(r["performances"]),
        ]
        if frequency:
            cells.append(_number(r["plays"]))
        lines.append("|".join(cells))
        if not r["isrc"] and not (r["album"] and r["label"]):
            unidentified.append(
                f"{r['station']}: {r['artist'] or '?'} - {r['title'] or '?'} "
                f"({r['plays']} play{'s' * (r['plays'] != 1)})"
            )
    return "".join(line + _EOL for line in lines), unidentified


def _day(bound: Bound, *, end: bool) -> str:
    if bound.day is not None:
        return bound.day.strftime("%Y%m%d")
    assert bound.at is not None
    at = bound.at - timedelta(microseconds=1) if end else bound.at  # --to is excluded
    return at.strftime("%Y%m%d")


def file_name(service: str, request: ReportRequest, category: str) -> str:
    """``<service><first day>_<last day>_<category>.txt``, the service in letters and digits."""
    name = _NOT_NAME.sub("", to_ascii(service)) or "airtrack"
    return f"{name}{_day(request.start, end=False)}_{_day(request.end, end=True)}_{category}.txt"


async def soundexchange(
    db: Database,
    settings: Settings,
    request: ReportRequest,
    *,
    service_name: str | None,
    category: str | None,
    play_frequency: bool = False,
) -> SoundExchangeFile:
    """The Report of Use for ``request``'s stations and range (one read; a row per
    recording, so a month of one station is a few thousand rows at most)."""
    prep = await prepare(db, request)
    cat = check_options(service_name, category, len(prep.stations))
    rows: list[Row] = []
    if prep.stations:
        # a long read for many stations and a year: the report cap, not tx_max_s
        found = db.stream(
            "report_soundexchange",
            prep.params(settings),
            batch=settings.report_batch_rows,
            tx_max_s=settings.report_tx_max_s,
        )
        async for batch in found:
            rows += [dict(zip(_FIELDS, r, strict=True)) for r in batch]
    text, unidentified = render(
        rows, service_name=service_name, category=cat, play_frequency=play_frequency
    )
    if service_name is not None:
        service = service_name
    elif len(prep.stations) == 1:
        service = prep.stations[0].name
    else:
        service = "airtrack"
    name = file_name(service, request, cat)
    return SoundExchangeFile(name, text.encode("ascii"), len(rows), unidentified)
