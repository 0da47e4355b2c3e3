"""The outbox when its disk refuses writes: nothing is lost, nothing raises, all recovers.

The refusals are SQLite's own, on a real file: ``PRAGMA query_only`` makes every write
fail as on a disk remounted read-only, and ``PRAGMA max_page_count`` at the file's size
makes a growing write fail with SQLITE_FULL, as on a full disk.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airtrack.protocol import TitleIn
from airtrack.worker.outbox import Outbox, title_key
from airtrack.worker.stop_flush import queued_at_stop
from tests.unit.test_worker_outbox import T0, _play

END = T0 + timedelta(minutes=3)


def _refuse(box: Outbox, on: bool) -> None:
    """The outbox's own connection refuses every write (a read-only disk), or not."""
    box._db.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


def _title(i: int) -> TitleIn:
    at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    return TitleIn(key=title_key(1, 1, at, f"t{i}"), stream_id=1, epoch=1, at=at, title=f"t{i}")


def test_refused_plays_are_held_sent_and_written_when_the_disk_takes_writes(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    a, b = _play(track=1), _play(track=2)
    box.put(a)  # stored
    _refuse(box, True)
    box.put(a.model_copy(update={"ended_at": END, "confidence": 0.9}))  # its end: held
    box.put(b)  # held
    assert box.unsaved == 2 and len(box) == 2 and box.count_by_stream() == {1: 2}
    assert box.write_failures >= 2
    sent = {q.play.key: q for q in box.batch(10)}
    assert sent.keys() == {a.key, b.key}
    assert sent[a.key].play.ended_at == END and sent[a.key].play.confidence == 0.9
    assert all(q.rev < 0 for q in sent.values()), "held plays carry tokens, not revisions"

    # the disk takes writes again: the held plays are written, merged into a's row
    _refuse(box, False)
    box.batch(10)
    assert box.unsaved == 0
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    stored = {q.play.key: q.play for q in again.batch(10)}
    assert stored.keys() == {a.key, b.key}
    assert stored[a.key].ended_at == END and stored[a.key].confidence == 0.9
    again.close()


def test_an_ack_the_disk_refuses_is_remembered_and_the_row_is_not_sent_again(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    a, b = _play(track=1), _play(track=2)
    box.put_many([a, b])
    batch = box.batch(10)
    _refuse(box, True)
    assert box.ack([(q.play.key, q.rev) for q in batch]) == 2  # no exception
    assert box.batch(10) == [] and len(box) == 0 and box.count_by_stream() == {}
    assert box.unsaved == 2
    # a newer revision of an acknowledged play (its end, held) is still sent
    box.put(a.model_copy(update={"ended_at": END}))
    (end,) = box.batch(10)
    assert end.play.key == a.key and end.play.ended_at == END
    # acknowledging the held end releases it and the stored row it supersedes
    assert box.ack([(end.play.key, end.rev)]) == 1
    assert box.batch(10) == [] and len(box) == 0
    _refuse(box, False)
    assert box.batch(10) == [] and box.unsaved == 0
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert len(again) == 0, "the remembered deletes were done once the disk took writes"
    again.close()


def test_a_held_play_changed_after_it_was_sent_stays_queued(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    a = _play()
    _refuse(box, True)
    box.put(a)
    (sent,) = box.batch(10)
    box.put(a.model_copy(update={"ended_at": END}))  # while the start is in flight
    assert box.ack([(sent.play.key, sent.rev)]) == 0, "a newer version must stay queued"
    (end,) = box.batch(10)
    assert end.play.ended_at == END
    assert box.drop([a.key]) == [end.play]
    assert box.batch(10) == [] and box.unsaved == 0
    box.close()


def test_a_full_disk_holds_plays_and_titles_and_drops_archive_segments(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put(_play(track=1))
    (pages,) = box._db.execute("PRAGMA page_count").fetchone()
    box._db.execute(f"PRAGMA max_page_count = {pages}")  # the file cannot grow
    plays = [_play(track=t) for t in range(2, 200)]  # more than the free pages hold
    for p in plays:
        box.put(p)
    titles = [_title(i) for i in range(200)]
    for t in titles:
        box.titles.put(t)
    assert box.unsaved > 0 and box.write_failures > 0
    assert len(box) == 199 and len(box.titles) == 200
    keys = {q.play.key for q in box.batch(1000)}
    assert keys == {p.key for p in [_play(track=1), *plays]}
    assert {t.key for t in box.titles.batch(1000)} == {t.key for t in titles}

    # titles answered while the disk is full: released, and not sent again
    box.titles.drop(t.key for t in titles[:100])
    assert {t.key for t in box.titles.batch(1000)} == {t.key for t in titles[100:]}

    # the disk has room again: everything held is written
    box._db.execute("PRAGMA max_page_count = 1073741823")
    box.titles.batch(1)
    assert box.unsaved == 0
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert len(again) == 199
    assert {t.key for t in again.titles.batch(1000)} == {t.key for t in titles[100:]}
    again.close()


def test_a_refusal_that_comes_and_goes_loses_no_end(tmp_path: Path) -> None:
    """An ack refused, then a later one of the same play accepted: the remembered delete
    must not remove the play's end, held meanwhile and written at the recovery."""
    box = Outbox(tmp_path / "o.sqlite")
    a = _play()
    box.put(a)
    (sent,) = box.batch(10)
    _refuse(box, True)
    box.ack([(a.key, sent.rev)])  # refused: remembered
    box.put(a.model_copy(update={"confidence": 0.95}))  # held
    (update,) = box.batch(10)
    _refuse(box, False)
    assert box.ack([(a.key, update.rev)]) == 1  # this delete goes through
    _refuse(box, True)
    box.put(a.model_copy(update={"ended_at": END}))  # held
    _refuse(box, False)
    (end,) = box.batch(10)  # the recovery writes it
    assert end.play.ended_at == END and end.rev > 0
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert [q.play.ended_at for q in again.batch(10)] == [END]
    again.close()


def test_a_held_play_keeps_what_the_stored_row_knew(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    a = _play()
    box.put(a.model_copy(update={"ended_at": END, "confidence": 0.9}))
    _refuse(box, True)
    box.put(a)  # reported again without its end (a re-detection in the same second)
    (held,) = box.batch(10)
    assert held.rev < 0 and held.play.ended_at == END and held.play.confidence == 0.9
    box.close()


def test_a_title_acked_while_refused_does_not_hide_one_still_queued(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    stored, held = _title(1), _title(2)
    box.titles.put(stored)
    _refuse(box, True)
    box.titles.put(held)
    assert {t.key for t in box.titles.batch(10)} == {stored.key, held.key}
    box.titles.drop([held.key])  # answered: released; its delete had no row to refuse
    assert len(box.titles) == 1, "the stored title still waits"
    assert [t.key for t in box.titles.batch(10)] == [stored.key]
    box.close()


def _deny_reads(box: Outbox, on: bool) -> None:
    """The outbox's own connection fails every read of a table (SQLite's authorizer)."""

    def deny(action: int, *_: object) -> int:
        return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_READ else sqlite3.SQLITE_OK

    box._db.set_authorizer(deny if on else None)


def test_unreadable_counts_are_unknown_not_zero(tmp_path: Path) -> None:
    """A stop that reads 0 deregisters, and the plays left on disk go out as stale at the
    next start: a failing read must say so."""
    box = Outbox(tmp_path / "o.sqlite")
    box.put(_play())
    box.titles.put(_title(1))
    _deny_reads(box, True)
    assert "error" in queued_at_stop(box)
    assert box.batch(10) == [] and box.titles.batch(10) == []  # no exception either
    _deny_reads(box, False)
    assert queued_at_stop(box)["plays"] == 1
    box.close()


def test_a_held_play_acked_while_reads_fail_is_not_sent_again_stale(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    a = _play()
    box.put(a)  # stored without its end
    _refuse(box, True)
    box.put(a.model_copy(update={"ended_at": END}))  # held
    (end,) = box.batch(10)
    _deny_reads(box, True)
    assert box.ack([(a.key, end.rev)]) == 1
    _deny_reads(box, False)
    assert box.batch(10) == [], "the stored start, superseded by the acked end, stays back"
    assert len(box) == 0
    _refuse(box, False)
    assert box.batch(10) == [] and box.unsaved == 0
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert len(again) == 0
    again.close()
