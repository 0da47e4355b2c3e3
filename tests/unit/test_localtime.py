"""How times are shown: always with a zone; local by default, UTC on request."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airtrack.localtime import show_time


@pytest.fixture
def tokyo() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Tokyo"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_local_by_default_utc_on_request(tokyo: None) -> None:
    when = datetime(2026, 11, 29, 23, 46, 47, tzinfo=UTC)
    assert show_time(when) == "2026-11-30 08:46:47 JST"
    assert show_time(when, utc=True) == "2026-11-29 23:46:47 UTC"
    assert show_time(when.isoformat(), date=False) == "08:46:47 JST"
    assert show_time(None) == ""


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_utc_display_names_the_same_instant(when: datetime) -> None:
    shown = show_time(when, utc=True)
    assert shown.endswith(" UTC")
    back = datetime.strptime(shown.removesuffix(" UTC"), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert back == when.replace(microsecond=0).astimezone(UTC)
