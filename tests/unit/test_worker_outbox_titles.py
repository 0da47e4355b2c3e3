"""Stream titles wait in the worker's durable outbox beside the plays."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from airtrack.protocol import TitleIn
from airtrack.worker.outbox import Outbox, title_key

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _title(text: str | None, second: int = 0) -> TitleIn:
    at = AT.replace(second=second)
    return TitleIn(
        key=title_key(7, 3, at, text), stream_id=7, epoch=3, at=at, title=text, encoding="cp1252"
    )


def test_titles_survive_a_reopen_in_order_and_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    ob = Outbox(path)
    ob.titles.put(_title("Björk – Jóga"))
    ob.titles.put(_title("Björk – Jóga"))  # the same report again: one row
    ob.titles.put(_title(None, 5))
    ob.titles.put(_title("", 9))
    ob.close()
    again = Outbox(path)
    got = again.titles.batch(10)
    assert [t.title for t in got] == ["Björk – Jóga", None, ""]
    assert got[0] == _title("Björk – Jóga")
    assert len(again) == 0  # plays are counted apart
    assert again.titles.drop([got[0].key, "nosuch"]) == 1
    assert [t.title for t in again.titles.batch(10)] == [None, ""]
    assert len(again.titles) == 2


def test_title_keys_differ_by_time_and_text() -> None:
    keys = {title_key(1, 1, AT, "a"), title_key(1, 1, AT, "b"), title_key(1, 2, AT, "a")}
    keys.add(title_key(1, 1, AT.replace(second=1), "a"))
    assert len(keys) == 4
