"""Durable play outbox: every play lands on disk before anyone tries to send it.

One SQLite file per worker (``HOME/worker-<id>/outbox.sqlite``), WAL journal and
``synchronous=FULL`` so a committed play survives SIGKILL and power loss. A play
is one row keyed by its idempotency key; the end of an open play updates the
same row (``rev`` + 1). A row is deleted only when the orchestrator
acknowledged *the revision that was sent*, so an end that arrives while the
start is in flight is never lost. Stream titles (ICY) wait in a table of their own
beside the plays: written once, deleted when answered. Fingerprint-archive segments
likewise (``archive``), bounded: beyond ``max_archive`` queued segments the oldest go
(counted), so an orchestrator away for long never fills the worker's disk with prints.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from airtrack.protocol import ArchiveIn, PlayIn, TitleIn

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plays (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,
    stream_id   INTEGER NOT NULL,
    epoch       INTEGER NOT NULL,
    track_id    INTEGER NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    confidence  REAL NOT NULL,
    rev         INTEGER NOT NULL DEFAULT 1,
    queued_at   TEXT NOT NULL,
    song_origin TEXT
);
CREATE INDEX IF NOT EXISTS plays_stream ON plays (stream_id, epoch);
CREATE TABLE IF NOT EXISTS titles (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,
    body        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS archive (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    key         TEXT NOT NULL UNIQUE,
    body        TEXT NOT NULL
);
"""

_UPSERT = """
INSERT INTO plays (key, stream_id, epoch, track_id, started_at, ended_at, confidence, queued_at,
                   song_origin)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    ended_at   = COALESCE(excluded.ended_at, plays.ended_at),
    confidence = MAX(plays.confidence, excluded.confidence),
    rev        = plays.rev + 1
"""

_COLUMNS = "key, stream_id, epoch, track_id, started_at, ended_at, confidence, rev, song_origin"


def play_key(stream_id: int, epoch: int, track_id: int, started_at: datetime) -> str:
    """Deterministic idempotency key of one airing as this worker saw it.

    Built from the stream, its epoch, the track and the start to the second, so
    re-sending the stored row after a crash (or the end of an open play) carries
    the same key. A *new* detection of the same airing (after a restart) gets a
    new key; the orchestrator merges it into the open play
    (protocol rule 6, docs/architecture.md).
    """
    start = int(started_at.astimezone(UTC).timestamp())
    raw = f"{stream_id}|{epoch}|{track_id}|{start}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


@dataclass(frozen=True)
class QueuedPlay:
    """A play as stored in the outbox, with the revision a send must acknowledge."""

    play: PlayIn
    rev: int


class Outbox:
    """Thread-safe durable queue of plays (pipelines write, the sender reads)."""

    def __init__(self, path: Path, *, max_archive: int = 20000) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(plays)")}
        if "song_origin" not in columns:  # an outbox written by an older worker
            self._db.execute("ALTER TABLE plays ADD COLUMN song_origin TEXT")
        self.titles = TitleQueue(self)
        self.archive = ArchiveQueue(self, max_archive)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, play: PlayIn) -> None:
        """Store a play durably; the same key updates the stored row (end, confidence)."""
        self.put_many([play])

    def put_many(self, plays: Iterable[PlayIn]) -> None:
        now = datetime.now(UTC).isoformat()
        rows = [
            (
                p.key,
                p.stream_id,
                p.epoch,
                p.track_id,
                p.started_at.isoformat(),
                p.ended_at.isoformat() if p.ended_at else None,
                p.confidence,
                now,
                p.song_origin.isoformat() if p.song_origin else None,
            )
            for p in plays
        ]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(_UPSERT, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def batch(self, limit: int) -> list[QueuedPlay]:
        """The oldest ``limit`` plays, in the order they were first queued."""
        with self._lock:
            cur = self._db.execute(f"SELECT {_COLUMNS} FROM plays ORDER BY seq LIMIT ?", (limit,))
            return [_row(r) for r in cur.fetchall()]

    def ack(self, sent: Iterable[tuple[str, int]]) -> int:
        """Delete acknowledged rows: ``(key, rev)`` pairs; a newer revision stays queued."""
        pairs = list(sent)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            n = 0
            for key, rev in pairs:
                n += self._db.execute(
                    "DELETE FROM plays WHERE key = ? AND rev = ?", (key, rev)
                ).rowcount
            self._db.execute("COMMIT")
            return n

    def drop(self, keys: Iterable[str]) -> list[PlayIn]:
        """Remove plays whatever their revision; returns what was removed (for the log)."""
        out: list[PlayIn] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for key in keys:
                row = self._db.execute(
                    f"DELETE FROM plays WHERE key = ? RETURNING {_COLUMNS}", (key,)
                ).fetchone()
                if row is not None:
                    out.append(_row(row).play)
            self._db.execute("COMMIT")
        return out

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM plays").fetchone()
            return int(n)

    def count_by_stream(self) -> dict[int, int]:
        """Queued plays per stream id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT stream_id, COUNT(*) FROM plays GROUP BY stream_id ORDER BY stream_id"
            ).fetchall()
        return {int(sid): int(n) for sid, n in rows}


def title_key(stream_id: int, epoch: int, at: datetime, title: str | None) -> str:
    """Deterministic idempotency key of one title change as this worker heard it."""
    ms = int(at.astimezone(UTC).timestamp() * 1000)
    raw = f"title|{stream_id}|{epoch}|{ms}|{title}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


_Body = TypeVar("_Body", TitleIn, ArchiveIn)


class _BodyQueue(Generic[_Body]):
    """A lane of the outbox whose rows are one JSON body each, keyed by the item's key
    (same file and lock as the plays): written once, deleted when answered."""

    def __init__(self, outbox: Outbox, table: str, model: type[_Body]) -> None:
        self._outbox = outbox
        self._table = table
        self._model: type[_Body] = model

    def put(self, item: _Body) -> None:
        ob = self._outbox
        with ob._lock:
            ob._db.execute(
                f"INSERT INTO {self._table} (key, body) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (item.key, item.model_dump_json()),
            )

    def batch(self, limit: int) -> list[_Body]:
        ob = self._outbox
        with ob._lock:
            rows = ob._db.execute(
                f"SELECT body FROM {self._table} ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [self._model.model_validate_json(str(r[0])) for r in rows]

    def drop(self, keys: Iterable[str]) -> int:
        ob = self._outbox
        with ob._lock:
            ob._db.execute("BEGIN IMMEDIATE")
            n = 0
            for key in keys:
                n += ob._db.execute(f"DELETE FROM {self._table} WHERE key = ?", (key,)).rowcount
            ob._db.execute("COMMIT")
        return n

    def __len__(self) -> int:
        ob = self._outbox
        with ob._lock:
            (n,) = ob._db.execute(f"SELECT COUNT(*) FROM {self._table}").fetchone()
            return int(n)


class TitleQueue(_BodyQueue[TitleIn]):
    """The titles' side of the outbox."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(outbox, "titles", TitleIn)


class ArchiveQueue(_BodyQueue[ArchiveIn]):
    """The archive segments' side of the outbox, at most ``limit``: putting one more
    drops the oldest (counted in ``dropped``)."""

    def __init__(self, outbox: Outbox, limit: int) -> None:
        super().__init__(outbox, "archive", ArchiveIn)
        self.limit = max(1, limit)
        self.dropped = 0

    def put(self, item: ArchiveIn) -> None:
        ob = self._outbox
        with ob._lock:
            ob._db.execute("BEGIN IMMEDIATE")
            try:
                ob._db.execute(
                    "INSERT INTO archive (key, body) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                    (item.key, item.model_dump_json()),
                )
                (n,) = ob._db.execute("SELECT COUNT(*) FROM archive").fetchone()
                over = int(n) - self.limit
                if over > 0:
                    ob._db.execute(
                        "DELETE FROM archive WHERE seq IN "
                        "(SELECT seq FROM archive ORDER BY seq LIMIT ?)",
                        (over,),
                    )
                    self.dropped += over
            except BaseException:
                ob._db.execute("ROLLBACK")
                raise
            ob._db.execute("COMMIT")


def _row(r: tuple[object, ...]) -> QueuedPlay:
    key, stream_id, epoch, track_id, started_at, ended_at, confidence, rev, origin = r
    play = PlayIn(
        key=str(key),
        stream_id=int(str(stream_id)),
        epoch=int(str(epoch)),
        track_id=int(str(track_id)),
        started_at=datetime.fromisoformat(str(started_at)),
        ended_at=datetime.fromisoformat(str(ended_at)) if ended_at is not None else None,
        confidence=float(str(confidence)),
        song_origin=datetime.fromisoformat(str(origin)) if origin is not None else None,
    )
    return QueuedPlay(play=play, rev=int(str(rev)))
