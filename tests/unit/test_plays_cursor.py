"""The play log's page cursor: opaque, and it decodes to exactly the keyset it encodes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airtrack.errors import ReportRequestError
from airtrack.orchestrator.plays import decode_cursor, encode_cursor


@given(
    at=st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
    play_id=st.integers(min_value=1, max_value=2**63 - 1),
)
def test_cursor_round_trips(at: datetime, play_id: int) -> None:
    cursor = encode_cursor(at, play_id)
    assert cursor.isascii() and "=" not in cursor and "/" not in cursor
    assert decode_cursor(cursor) == (at, play_id)


@pytest.mark.parametrize("bad", ["!!!", "bm90IGpzb24", "WzFd", ""])
def test_bad_cursors_are_one_clear_error(bad: str) -> None:
    with pytest.raises(ReportRequestError, match="invalid cursor"):
        decode_cursor(bad)
