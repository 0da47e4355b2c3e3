"""Coverage arithmetic: each day is split exactly into monitored time and ordered gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.reports.coverage import (
    NO_WORKER,
    SILENCE,
    STREAM_DOWN,
    UNKNOWN,
    cause_of,
    coverage,
    day_bounds,
)

T0 = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # spans Paris' spring-forward day
ZONES = [ZoneInfo(z) for z in ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata")]

offsets = st.integers(min_value=-86_400, max_value=4 * 86_400)
owner_changes = st.lists(st.tuples(offsets, st.sampled_from([None, "w1", "w2"])), max_size=12).map(
    lambda xs: sorted(((T0 + timedelta(seconds=s), w) for s, w in xs), key=lambda x: x[0])
)
status_changes = st.lists(
    st.tuples(
        offsets,
        st.sampled_from(["running", "retrying", "failed", "starting", None]),
        st.sampled_from([None, "silence: no audio for 300 s", "connection refused"]),
    ),
    max_size=12,
).map(lambda xs: sorted(((T0 + timedelta(seconds=s), a, e) for s, a, e in xs), key=lambda x: x[0]))


@settings(max_examples=200, deadline=None)
@given(
    owners=owner_changes,
    statuses=status_changes,
    length=st.integers(min_value=1, max_value=3 * 86_400),
    zone=st.sampled_from(ZONES),
)
def test_monitored_plus_gaps_is_each_day_without_overlaps(
    owners: list[tuple[datetime, str | None]],
    statuses: list[tuple[datetime, str | None, str | None]],
    length: int,
    zone: ZoneInfo,
) -> None:
    t1 = T0 + timedelta(seconds=length)
    days = coverage(T0, t1, zone, owners, statuses)
    assert days[0].start == T0 and days[-1].end == t1
    for a, b in pairwise(days):
        assert a.end == b.start and a.day < b.day
    for d in days:
        gaps = sum(g.seconds for g in d.gaps)
        assert abs(d.monitored_s + gaps - (d.end - d.start).total_seconds()) < 1e-6
        last = d.start
        for g in d.gaps:
            assert last <= g.start < g.end <= d.end
            last = g.end
        for g, h in pairwise(d.gaps):
            assert not (g.end == h.start and g.cause == h.cause)  # merged


@given(t0=offsets, length=st.integers(min_value=1, max_value=40 * 86_400))
def test_days_start_at_local_midnight(t0: int, length: int) -> None:
    zone = ZoneInfo("Europe/Paris")
    a = T0 + timedelta(seconds=t0)
    bounds = day_bounds(a, a + timedelta(seconds=length), zone)
    for b in bounds[1:-1]:
        local = b.astimezone(zone)
        assert (local.hour, local.minute, local.second) == (0, 0, 0)


def test_a_spring_forward_day_has_23_hours() -> None:
    zone = ZoneInfo("Europe/Paris")
    days = coverage(T0, T0 + timedelta(hours=23), zone, [(T0, "w1")], [(T0, "running", None)])
    assert [(d.day.isoformat(), d.monitored_s, d.gaps) for d in days] == [
        ("2026-03-29", 23 * 3600.0, [])
    ]


def test_causes() -> None:
    assert cause_of(False, "running", None) == NO_WORKER
    assert cause_of(True, "running", None) is None
    assert cause_of(True, "failed", "silence: no audio for 300 s") == SILENCE
    assert cause_of(True, "retrying", "connection refused") == STREAM_DOWN
    assert cause_of(True, "starting", None) == UNKNOWN
    assert cause_of(True, None, None) == UNKNOWN
