"""Monitored time and its gaps, from who owned a stream and what its owner reported.

A moment counts as monitored when the stream had an owner (``assignment_epochs``,
worker not null) and the last status reported for it was ``running``
(``stream_status_log``). Every other moment is a gap with one cause:

* ``no worker`` — nobody owned the stream;
* ``silence`` — the owner reported an error about silence (worker/pipeline.py fails a
  stream with ``silence: …`` after ``silence_fail_s`` without audio);
* ``stream down`` — the owner reported ``retrying``, ``failed`` or ``stopped``;
* ``unknown`` — owned, but no running status yet (``starting``, or never reported).

Pure: plain datetimes in, plain data out; days are cut at local midnights.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

NO_WORKER = "no worker"
STREAM_DOWN = "stream down"
SILENCE = "silence"
UNKNOWN = "unknown"
_DOWN = frozenset({"retrying", "failed", "stopped", "error"})


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime
    cause: str

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass
class Day:
    day: date
    start: datetime
    end: datetime
    monitored_s: float = 0.0
    gaps: list[Gap] = field(default_factory=list)


def cause_of(owned: bool, status: str | None, error: str | None) -> str | None:
    """Why a moment was not monitored, or None when it was."""
    if not owned:
        return NO_WORKER
    if status == "running":
        return None
    if error and SILENCE in error.lower():
        return SILENCE
    if status in _DOWN:
        return STREAM_DOWN
    return UNKNOWN


def day_bounds(t0: datetime, t1: datetime, zone: ZoneInfo) -> list[datetime]:
    """``t0``, every local midnight strictly between, and ``t1`` (all UTC)."""
    bounds = [t0]
    day = t0.astimezone(zone).date() + timedelta(days=1)
    while True:
        midnight = datetime.combine(day, time(), zone).astimezone(UTC)
        if midnight >= t1:
            break
        if midnight > bounds[-1]:
            bounds.append(midnight)
        day += timedelta(days=1)
    bounds.append(t1)
    return bounds


def coverage(
    t0: datetime,
    t1: datetime,
    zone: ZoneInfo,
    owners: Sequence[tuple[datetime, str | None]],
    statuses: Sequence[tuple[datetime, str | None, str | None]],
) -> list[Day]:
    """Per local day of ``[t0, t1)``: seconds monitored and the gaps, in order.

    ``owners`` is (at, worker or None) and ``statuses`` (at, status, error), each sorted
    by time; entries before ``t0`` give the state at ``t0``.
    """
    if t1 <= t0:
        return []
    owner_at = [at for at, _ in owners]
    status_at = [at for at, _, _ in statuses]
    days = day_bounds(t0, t1, zone)
    cuts = sorted(
        {*days, *(a for a in owner_at if t0 < a < t1), *(a for a in status_at if t0 < a < t1)}
    )
    out: list[Day] = []
    for d0, d1 in pairwise(days):
        out.append(Day(d0.astimezone(zone).date(), d0, d1))
    di = 0
    for a, b in pairwise(cuts):
        while out[di].end <= a:
            di += 1
        day = out[di]
        i = bisect_right(owner_at, a) - 1
        j = bisect_right(status_at, a) - 1
        owned = i >= 0 and owners[i][1] is not None
        status, error = (statuses[j][1], statuses[j][2]) if j >= 0 else (None, None)
        cause = cause_of(owned, status, error)
        if cause is None:
            day.monitored_s += (b - a).total_seconds()
        elif day.gaps and day.gaps[-1].end == a and day.gaps[-1].cause == cause:
            day.gaps[-1] = Gap(day.gaps[-1].start, b, cause)
        else:
            day.gaps.append(Gap(a, b, cause))
    return out
