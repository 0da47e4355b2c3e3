"""What a report asks for, parsed and checked before any row is read.

``--from``/``--to`` take a date (``2026-03-01``: a whole day; ``--to`` is the last day
included) or a time (``2026-03-01T06:00``: ``--to`` excluded). Times without an offset
are station-local (each station's ``timezone``) unless ``--tz`` names another zone; a
time with an offset is that instant everywhere. Both ends must fall in the years
:data:`FIRST_YEAR`..:data:`LAST_YEAR` (no play is older than the Unix epoch, and the
calendar's own ends, years 1 and 9999, overflow once a zone's offset is applied). Every
problem raises one :class:`~airtrack.errors.ReportRequestError` that names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from airtrack.errors import ReportRequestError, UnknownStream

ReportName = Literal["plays", "summary", "coverage", "metadata-check", "metadata-wishlist"]
Format = Literal["csv", "json", "xlsx"]
REPORTS: tuple[ReportName, ...] = (
    "plays",
    "summary",
    "coverage",
    "metadata-check",
    "metadata-wishlist",
)
FORMATS: tuple[Format, ...] = ("csv", "json", "xlsx")
#: The years a report's ``--from``/``--to`` may name (docs/reports.md: the range).
FIRST_YEAR = 1970
LAST_YEAR = 2200


@dataclass(frozen=True)
class Bound:
    """One end of a range as typed: a whole day, a local time, or an instant."""

    text: str
    day: date | None = None
    at: datetime | None = None  # naive: local; aware: an instant

    def resolve(self, zone: ZoneInfo, *, end: bool) -> datetime:
        """This bound as a UTC instant for a station in ``zone``."""
        if self.day is not None:
            day = self.day + timedelta(days=1) if end else self.day
            return datetime.combine(day, time(), zone).astimezone(UTC)
        assert self.at is not None
        at = self.at if self.at.tzinfo is not None else self.at.replace(tzinfo=zone)
        return at.astimezone(UTC)


@dataclass(frozen=True)
class Station:
    id: int
    name: str
    zone: ZoneInfo
    t0: datetime  # UTC, included
    t1: datetime  # UTC, excluded


@dataclass(frozen=True)
class ReportRequest:
    """A checked request; :meth:`stations` resolves it against the streams that exist."""

    report: ReportName
    start: Bound
    end: Bound
    tz: ZoneInfo | None
    streams: tuple[str, ...]
    format: Format
    #: plays: also the airings still on air (empty end, ``in_progress`` true)
    include_open: bool = False

    def stations(self, known: list[tuple[int, str, str]]) -> list[Station]:
        """``known`` is (id, name, timezone) of every stream; unknown names are an error."""
        by_name = {name: (sid, tz) for sid, name, tz in known}
        missing = [n for n in self.streams if n not in by_name]
        if missing:
            raise UnknownStream("no stream named " + ", ".join(repr(n) for n in missing))
        names = list(dict.fromkeys(self.streams)) or sorted(by_name)
        out = []
        for name in names:
            sid, tzname = by_name[name]
            zone = self.tz or _zone(tzname, f"stream {name!r} has time zone")
            t0 = self.start.resolve(zone, end=False)
            t1 = self.end.resolve(zone, end=True)
            if t1 <= t0:
                raise ReportRequestError(
                    f"empty or reversed range: --from {self.start.text} is not before "
                    f"--to {self.end.text} (station {name!r}, {zone.key})"
                )
            out.append(Station(sid, name, zone, t0, t1))
        return out


def _zone(name: str, what: str = "--tz") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportRequestError(f"{what} {name!r}: unknown time zone") from None


def parse_bound(text: str | None, flag: str) -> Bound:
    if text is None or not text.strip():
        raise ReportRequestError(f"{flag} is required (a date like 2026-03-01 or a time)")
    text = text.strip()
    try:
        if len(text) == 10:
            bound = Bound(text, day=date.fromisoformat(text))
        else:
            bound = Bound(text, at=datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ReportRequestError(
            f"{flag} {text[:64]!r}: not a date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM[:SS][+HH:MM])"
        ) from None
    year = bound.day.year if bound.day is not None else bound.at.year  # type: ignore[union-attr]
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ReportRequestError(
            f"{flag} {text!r}: out of range (reports cover the years {FIRST_YEAR} to {LAST_YEAR})"
        )
    return bound


def parse_request(
    report: str,
    *,
    start: str | None,
    end: str | None,
    tz: str | None = None,
    streams: list[str] | tuple[str, ...] = (),
    format: str = "csv",
    include_open: bool = False,
) -> ReportRequest:
    """Check every part of a request; raise :class:`ReportRequestError` on the first problem."""
    if report not in REPORTS:
        raise ReportRequestError(f"unknown report {report!r} (one of {', '.join(REPORTS)})")
    if format not in FORMATS:
        raise ReportRequestError(f"unknown format {format!r} (one of {', '.join(FORMATS)})")
    a, b = parse_bound(start, "--from"), parse_bound(end, "--to")
    zone = _zone(tz) if tz else None
    names = tuple(s.strip() for s in streams)
    if any(not n for n in names):
        raise ReportRequestError("--stream must not be empty")
    if include_open and report != "plays":
        raise ReportRequestError("--include-open is for the plays report only")
    req = ReportRequest(report, a, b, zone, names, format, include_open)
    # Reversed ranges are caught per station too; catch the obvious case without streams.
    probe = zone or ZoneInfo("UTC")
    if b.resolve(probe, end=True) <= a.resolve(probe, end=False):
        raise ReportRequestError(
            f"empty or reversed range: --from {a.text} is not before --to {b.text}"
        )
    return req
