"""The durable outbox: idempotent upserts, acknowledged revisions, batches, SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airtrack.protocol import PlayIn
from airtrack.worker.outbox import Outbox, play_key
from tests.support.processes import spawn

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def _play(stream: int = 1, track: int = 7, start: datetime = T0, **kw: object) -> PlayIn:
    epoch = int(kw.pop("epoch", 1))  # type: ignore[call-overload]
    return PlayIn(
        key=play_key(stream, epoch, track, start),
        stream_id=stream,
        epoch=epoch,
        track_id=track,
        started_at=start,
        confidence=0.8,
        **kw,  # type: ignore[arg-type]
    )


def test_key_is_deterministic_and_distinguishes_airings() -> None:
    k = play_key(1, 2, 3, T0)
    assert k == play_key(1, 2, 3, T0 + timedelta(milliseconds=300))  # same second
    assert k == play_key(1, 2, 3, T0.astimezone(tz=None))  # same instant, other zone
    assert (
        len(
            {
                k,
                play_key(1, 2, 3, T0 + timedelta(seconds=1)),
                play_key(2, 2, 3, T0),
                play_key(1, 3, 3, T0),
                play_key(1, 2, 4, T0),
            }
        )
        == 5
    )


def test_end_updates_the_same_row_and_only_the_sent_revision_is_acked(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    start = _play()
    box.put(start)
    (sent,) = box.batch(10)
    assert sent.play.ended_at is None and sent.rev == 1
    # the end arrives while the start is in flight
    box.put(start.model_copy(update={"ended_at": T0 + timedelta(minutes=3), "confidence": 0.9}))
    assert len(box) == 1
    assert box.ack([(sent.play.key, sent.rev)]) == 0, "a newer revision must stay queued"
    (again,) = box.batch(10)
    assert again.rev == 2 and again.play.ended_at == T0 + timedelta(minutes=3)
    assert again.play.confidence == 0.9
    assert box.ack([(again.play.key, again.rev)]) == 1
    assert len(box) == 0


def test_batches_in_queue_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    plays = [
        _play(stream=1 + i % 3, track=i + 1, start=T0 + timedelta(minutes=i)) for i in range(25)
    ]
    box.put_many(plays)
    box.put_many(plays[:5])  # re-put: no new rows
    assert len(box) == 25
    first = box.batch(10)
    assert [q.play.key for q in first] == [p.key for p in plays[:10]]
    dropped = box.drop([p.key for p in plays if p.stream_id == 2])
    assert {p.stream_id for p in dropped} == {2} and len(dropped) == 8
    assert len(box) == 17


_WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from airtrack.protocol import PlayIn
    from airtrack.worker.outbox import Outbox, play_key
    box = Outbox(Path(sys.argv[1]))
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    i = 0
    while True:
        start = t0 + timedelta(seconds=i)
        box.put(PlayIn(key=play_key(1, 1, 1 + i % 50, start), stream_id=1, epoch=1,
                       track_id=1 + i % 50, started_at=start, confidence=0.7))
        print(i, flush=True)
        i += 1
    """
)


def test_committed_plays_survive_sigkill_mid_write(tmp_path: Path) -> None:
    db = tmp_path / "outbox.sqlite"
    proc = spawn(
        [sys.executable, "-c", _WRITER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert proc.stdout is not None
        acked = -1
        while acked < 150:
            line = proc.stdout.readline()
            assert line, "writer died"
            acked = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            # puts that returned while this test was still reading the earlier lines
            acked = max([acked, *(int(n) for n in proc.stdout.read().split())])
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    box = Outbox(db)
    rows = {q.play.key for q in box.batch(100_000)}
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(acked + 1):  # every put that returned is on disk
        assert play_key(1, 1, 1 + i % 50, t0 + timedelta(seconds=i)) in rows
    assert len(rows) in (acked + 1, acked + 2)  # at most the one being written on top
    (ok,) = box._db.execute("PRAGMA integrity_check").fetchone()
    assert ok == "ok"
    box.close()


def test_an_outbox_from_an_older_worker_is_read_and_gains_the_song_origin(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "outbox.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE plays (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
            stream_id INTEGER NOT NULL, epoch INTEGER NOT NULL, track_id INTEGER NOT NULL,
            started_at TEXT NOT NULL, ended_at TEXT, confidence REAL NOT NULL,
            rev INTEGER NOT NULL DEFAULT 1, queued_at TEXT NOT NULL);
        INSERT INTO plays (key, stream_id, epoch, track_id, started_at, confidence, queued_at)
        VALUES ('queued-before-upgrade', 1, 2, 3, '2026-11-30T00:00:00+00:00', 0.9,
                '2026-11-30T00:00:01+00:00');
        """
    )
    old.commit()
    old.close()
    box = Outbox(path)
    (queued,) = box.batch(10)
    assert queued.play.key == "queued-before-upgrade" and queued.play.song_origin is None
    start = datetime(2026, 11, 30, 1, tzinfo=UTC)
    origin = start - timedelta(seconds=42)
    box.put(
        PlayIn(
            key="queued-after-upgrade",
            stream_id=1,
            epoch=2,
            track_id=3,
            started_at=start,
            confidence=0.9,
            song_origin=origin,
        )
    )
    assert [q.play.song_origin for q in box.batch(10)] == [None, origin]
    box.close()
