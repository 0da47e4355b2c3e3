"""Report requests: ranges in each station's zone, and one clear error per problem."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airtrack.errors import ReportRequestError, UnknownStream
from airtrack.reports import parse_request

KNOWN = [(1, "Paris FM", "Europe/Paris"), (2, "NY Radio", "America/New_York")]


def test_dates_are_whole_local_days_per_station() -> None:
    req = parse_request("plays", start="2026-03-01", end="2026-03-31")
    paris, ny = sorted(req.stations(KNOWN), key=lambda s: s.id)
    assert paris.t0 == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert paris.t1 == datetime(2026, 3, 31, 22, tzinfo=UTC)  # Apr 1 00:00 in summer time
    assert ny.t0 == datetime(2026, 3, 1, 5, tzinfo=UTC)


def test_tz_overrides_and_offsets_are_instants() -> None:
    req = parse_request("plays", start="2026-03-01T06:00", end="2026-03-01T07:00Z", tz="UTC")
    s = req.stations(KNOWN)[1]
    assert s.t0 == datetime(2026, 3, 1, 6, tzinfo=UTC) and s.t1 == datetime(
        2026, 3, 1, 7, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"start": None, "end": "2026-03-01"}, "--from is required"),
        ({"start": "2026-03-01", "end": ""}, "--to is required"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "empty or reversed range"),
        ({"start": "yesterday", "end": "2026-03-01"}, "--from 'yesterday': not a date"),
        ({"start": "2026-03-01", "end": "2026-03-01", "tz": "Nowhere/City"}, "unknown time zone"),
        ({"start": "2026-03-01", "end": "2026-03-01", "format": "pdf"}, "unknown format"),
    ],
)
def test_bad_requests_name_the_problem(kw: dict[str, str], message: str) -> None:
    with pytest.raises(ReportRequestError, match=message):
        parse_request("plays", **kw)


def test_unknown_streams_are_named() -> None:
    req = parse_request(
        "plays", start="2026-03-01", end="2026-03-01", streams=["A", "Paris FM", "B"]
    )
    with pytest.raises(UnknownStream, match="no stream named 'A', 'B'"):
        req.stations(KNOWN)


def test_a_station_with_a_bad_zone_is_named() -> None:
    req = parse_request("plays", start="2026-03-01", end="2026-03-01")
    with pytest.raises(ReportRequestError, match="stream 'X' has time zone 'Bad/Zone'"):
        req.stations([(3, "X", "Bad/Zone")])
