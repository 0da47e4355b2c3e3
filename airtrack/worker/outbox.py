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

A disk that refuses a write (full, read-only, failing) loses nothing while the process
lives: a play or title that could not be written is *held* in memory, sent like the
stored ones, and written as soon as a write succeeds again (every put and every batch
tries); an acknowledgement that could not be deleted is remembered and retried, so the
acknowledged row is not sent again meanwhile. No write error reaches a pipeline or the
sender. ``unsaved`` counts what is held (the worker reports it in heartbeats); the
first failure is logged as an error, the recovery once as info. Archive segments
that cannot be written are dropped (counted), as beyond their bound.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from airtrack.logging import get_logger
from airtrack.protocol import ArchiveIn, PlayIn, TitleIn

log = get_logger(__name__)

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

#: a remembered delete of whatever revision is stored (its revision could not be read)
_ANY = -1


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
        # what the disk refused (see the module doc): plays held with a token (< 0,
        # new on every change) as their revision; acks not yet deleted, key → rev
        self._held: dict[str, tuple[PlayIn, int]] = {}
        self._tokens = 0
        self._unacked: dict[str, int] = {}
        self._failing = False
        self._reads_failing = False
        self.write_failures = 0
        self.titles = TitleQueue(self)
        self.archive = ArchiveQueue(self, max_archive)

    def close(self) -> None:
        """Close the file, after one last try to write what is held (what still cannot
        be written is lost with the process: logged with its count)."""
        with self._lock:
            if not self._flush_locked():
                log.error(
                    "outbox_unsaved_lost",
                    outbox=str(self.path),
                    plays=len(self._held),
                    titles=len(self.titles._held),
                    acks=len(self._unacked),
                )
            self._db.close()

    # --- writes that may fail ---------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (with the lock held); whatever fails, none stays open."""
        if self._db.in_transaction:  # a ROLLBACK that failed before: try it again
            self._db.execute("ROLLBACK")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise

    def _write_failed(self, op: str, exc: sqlite3.Error) -> None:
        self.write_failures += 1
        if not self._failing:
            self._failing = True
            log.error(
                "outbox_write_failed",
                op=op,
                error=str(exc),
                outbox=str(self.path),
                unsaved=self._unsaved_locked(),
                note="kept in memory and sent; written when the disk takes writes again",
            )

    def _read_failed(self, exc: sqlite3.Error) -> None:
        """A read the disk failed (logged once until a read succeeds again)."""
        if not self._reads_failing:
            self._reads_failing = True
            log.error("outbox_read_failed", error=str(exc), outbox=str(self.path))

    def _queued_rows(self, sql: str, limit: int) -> list[tuple[object, ...]]:
        """The rows of a batch read (``sql`` takes the limit); none when the disk fails
        the read too: a batch then sends what is held."""
        try:
            rows = self._db.execute(sql, (limit,)).fetchall()
        except sqlite3.Error as exc:
            self._read_failed(exc)
            return []
        self._reads_failing = False
        return rows

    def _write_ok(self) -> None:
        if self._failing:
            self._failing = False
            log.info("outbox_write_recovered", outbox=str(self.path))

    def _flush_locked(self) -> bool:
        """Write what is held and delete what was acknowledged; False if the disk refused."""
        if not self._unsaved_locked():
            return True
        try:
            with self._tx() as db:
                # the deletes first: a held newer version of an acknowledged play is
                # written as a new row after its old one is gone
                for key, rev in self._unacked.items():
                    db.execute(
                        "DELETE FROM plays WHERE key = ? AND (rev = ? OR ? = -1)", (key, rev, rev)
                    )
                if self._held:
                    db.executemany(_UPSERT, [_values(p) for p, _ in self._held.values()])
                for lane in (self.titles, self.archive):
                    lane.flush_in(db)
        except sqlite3.Error as exc:
            self._write_failed("flush", exc)
            return False
        self._held.clear()
        self._unacked.clear()
        for lane in (self.titles, self.archive):
            lane.flushed()
        self._write_ok()
        return True

    def _hold(self, plays: Iterable[PlayIn]) -> None:
        """Keep ``plays`` in memory, each merged (as the upsert merges) with the version
        held before or, failing that, the stored one: what is sent is the whole play."""
        before = len(self._held)
        for p in plays:
            old = self._held.get(p.key)
            prior = old[0] if old is not None else self._stored(p.key)
            if prior is not None:
                p = p.model_copy(
                    update={
                        "ended_at": p.ended_at or prior.ended_at,
                        "confidence": max(p.confidence, prior.confidence),
                        "song_origin": p.song_origin or prior.song_origin,
                    }
                )
            self._tokens -= 1
            self._held[p.key] = (p, self._tokens)
        # loud as it grows: each tenfold (1000, 10000, ...) while the disk refuses
        for mark in (10**k for k in range(3, 9)):
            if before < mark <= len(self._held):
                log.error("outbox_held_growing", outbox=str(self.path), held=len(self._held))

    def _stored(self, key: str) -> PlayIn | None:
        try:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM plays WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None  # unreadable too: the held version is what is known
        return None if row is None else _row(row).play

    def _unsaved_locked(self) -> int:
        return len(self._held) + len(self._unacked) + self.titles.held() + self.archive.held()

    @property
    def unsaved(self) -> int:
        """Plays and titles held in memory, and acks not yet deleted: what a crash loses
        (or sends again) while the disk refuses writes."""
        with self._lock:
            return self._unsaved_locked()

    # --- the queue -------------------------------------------------------------------

    def put(self, play: PlayIn) -> None:
        """Store a play durably; the same key updates the stored row (end, confidence)."""
        self.put_many([play])

    def put_many(self, plays: Iterable[PlayIn]) -> None:
        """Store ``plays`` (held in memory when the disk refuses them; never raises)."""
        new = list(plays)
        if not new:
            return
        with self._lock:
            if not self._flush_locked():
                self._hold(new)
                return
            try:
                with self._tx() as db:
                    db.executemany(_UPSERT, [_values(p) for p in new])
            except sqlite3.Error as exc:
                self._hold(new)
                self._write_failed("put", exc)

    def batch(self, limit: int) -> list[QueuedPlay]:
        """The oldest ``limit`` plays, in the order they were first queued (stored ones,
        then held ones)."""
        with self._lock:
            self._flush_locked()
            rows = self._queued_rows(
                f"SELECT {_COLUMNS} FROM plays ORDER BY seq LIMIT ?",
                limit + len(self._unacked) + len(self._held),
            )
            out = []
            for r in rows:
                q = _row(r)
                if self._unacked.get(q.play.key) in (q.rev, _ANY) or q.play.key in self._held:
                    continue  # acknowledged already; or a newer version is held
                out.append(q)
            out.extend(QueuedPlay(play, token) for play, token in self._held.values())
            return out[:limit]

    def ack(self, sent: Iterable[tuple[str, int]]) -> int:
        """Delete acknowledged rows: ``(key, rev)`` pairs; a newer revision stays queued."""
        with self._lock:
            return self._remove([(k, r) for k, r in sent], exact=True)

    def drop(self, keys: Iterable[str]) -> list[PlayIn]:
        """Remove plays whatever their revision; returns what was removed (for the log)."""
        wanted = list(keys)
        with self._lock:
            out = [self._held[k][0] for k in wanted if k in self._held]
            for key in wanted:
                stored = None if key in self._held else self._stored(key)
                if stored is not None:
                    out.append(stored)
            self._remove([(k, 0) for k in wanted], exact=False)
            return out

    def _remove(self, pairs: list[tuple[str, int]], *, exact: bool) -> int:
        """Delete ``pairs`` (each at its revision when ``exact``; a held token releases
        the held play and the stored row it supersedes): how many plays went. A delete
        the disk refuses is remembered (see the module doc); a row it cannot even read
        stays, and is sent again (the orchestrator takes a key twice as once)."""
        doomed: dict[str, int] = {}
        released: set[str] = set()
        for key, rev in pairs:
            held = self._held.get(key)
            if held is not None and (not exact or held[1] == rev):
                released.add(key)
                rev = -1  # and the stored row, whatever its revision
            elif exact and rev < 0:
                continue  # a held version since changed: it is still to be sent
            if rev < 0 or not exact:
                try:
                    row = self._db.execute("SELECT rev FROM plays WHERE key = ?", (key,)).fetchone()
                except sqlite3.Error as exc:
                    self._read_failed(exc)
                    if key in released:  # what was sent supersedes whatever is stored
                        self._unacked[key] = _ANY
                    continue
                if row is None:
                    continue
                rev = int(row[0])
            doomed[key] = rev
        for key in released:
            del self._held[key]
        gone = set(released)
        if not doomed:
            return len(gone)
        try:
            with self._tx() as db:
                for key, rev in doomed.items():
                    deleted = db.execute(
                        "DELETE FROM plays WHERE key = ? AND rev = ?", (key, rev)
                    ).rowcount
                    if deleted:
                        gone.add(key)
        except sqlite3.Error as exc:
            self._unacked.update(doomed)
            self._write_failed("ack", exc)
            return len(released | doomed.keys())
        for key in doomed:  # done: an older remembered delete of it is moot
            self._unacked.pop(key, None)
        return len(gone)

    def __len__(self) -> int:
        with self._lock:
            return sum(self._pending_by_stream_locked().values())

    def count_by_stream(self) -> dict[int, int]:
        """Plays waiting per stream (stored and held; acknowledged ones not counted)."""
        with self._lock:
            return self._pending_by_stream_locked()

    def _pending_by_stream_locked(self) -> dict[int, int]:
        out: dict[int, int] = {}
        try:
            for sid, n in self._db.execute(
                "SELECT stream_id, COUNT(*) FROM plays GROUP BY stream_id"
            ).fetchall():
                out[int(sid)] = int(n)
            for key in self._held.keys() | self._unacked.keys():
                row = self._db.execute(
                    "SELECT stream_id, rev FROM plays WHERE key = ?", (key,)
                ).fetchone()
                if row is not None and (
                    key in self._held or self._unacked.get(key) in (int(row[1]), _ANY)
                ):
                    out[int(row[0])] -= 1  # counted below (held), or acknowledged
        except sqlite3.Error as exc:  # unknown, not 0: a stop must not deregister on it
            self._read_failed(exc)
            raise
        for play, _ in self._held.values():
            out[play.stream_id] = out.get(play.stream_id, 0) + 1
        return {sid: n for sid, n in out.items() if n > 0}


def title_key(stream_id: int, epoch: int, at: datetime, title: str | None) -> str:
    """Deterministic idempotency key of one title change as this worker heard it."""
    ms = int(at.astimezone(UTC).timestamp() * 1000)
    raw = f"title|{stream_id}|{epoch}|{ms}|{title}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


_Body = TypeVar("_Body", TitleIn, ArchiveIn)


class _BodyQueue(Generic[_Body]):
    """A lane of the outbox whose rows are one JSON body each, keyed by the item's key
    (same file and lock as the plays): written once, deleted when answered; held in
    memory when the disk refuses them (see the module doc)."""

    def __init__(self, outbox: Outbox, table: str, model: type[_Body]) -> None:
        self._outbox = outbox
        self._table = table
        self._model: type[_Body] = model
        self._held: dict[str, _Body] = {}
        self._undropped: set[str] = set()

    # with the outbox's lock held:
    def held(self) -> int:
        return len(self._held) + len(self._undropped)

    def flush_in(self, db: sqlite3.Connection) -> None:
        db.executemany(
            f"INSERT INTO {self._table} (key, body) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
            [(k, item.model_dump_json()) for k, item in self._held.items()],
        )
        db.executemany(f"DELETE FROM {self._table} WHERE key = ?", [(k,) for k in self._undropped])

    def flushed(self) -> None:
        self._held.clear()
        self._undropped.clear()

    def put(self, item: _Body) -> None:
        ob = self._outbox
        with ob._lock:
            if not ob._flush_locked():
                self._held[item.key] = item
                return
            try:
                with ob._tx() as db:
                    db.execute(
                        f"INSERT INTO {self._table} (key, body) VALUES (?, ?) "
                        "ON CONFLICT (key) DO NOTHING",
                        (item.key, item.model_dump_json()),
                    )
            except sqlite3.Error as exc:
                self._held[item.key] = item
                ob._write_failed(f"{self._table}_put", exc)

    def batch(self, limit: int) -> list[_Body]:
        ob = self._outbox
        with ob._lock:
            ob._flush_locked()
            rows = ob._queued_rows(
                f"SELECT key, body FROM {self._table} ORDER BY seq LIMIT ?",
                limit + len(self._undropped) + len(self._held),
            )
            out = [
                self._model.model_validate_json(str(body))
                for key, body in rows
                if key not in self._undropped and key not in self._held
            ]
            out.extend(self._held.values())
            return out[:limit]

    def drop(self, keys: Iterable[str]) -> int:
        ob = self._outbox
        wanted = list(keys)
        with ob._lock:
            n = sum(self._held.pop(k, None) is not None for k in wanted)
            try:
                with ob._tx() as db:
                    for key in wanted:
                        n += db.execute(f"DELETE FROM {self._table} WHERE key = ?", (key,)).rowcount
            except sqlite3.Error as exc:
                ob._write_failed(f"{self._table}_ack", exc)
                # remembered only for the rows there are (one unreadable is sent again)
                for key in wanted:
                    with suppress(sqlite3.Error):
                        if ob._db.execute(
                            f"SELECT 1 FROM {self._table} WHERE key = ?", (key,)
                        ).fetchone():
                            self._undropped.add(key)
            else:
                self._undropped.difference_update(wanted)
        return n

    def __len__(self) -> int:
        ob = self._outbox
        with ob._lock:
            try:
                (n,) = ob._db.execute(f"SELECT COUNT(*) FROM {self._table}").fetchone()
            except sqlite3.Error as exc:  # unknown, not 0: a stop must not deregister on it
                ob._read_failed(exc)
                raise
            return int(n) + len(self._held) - len(self._undropped)


class TitleQueue(_BodyQueue[TitleIn]):
    """The titles' side of the outbox."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__(outbox, "titles", TitleIn)


class ArchiveQueue(_BodyQueue[ArchiveIn]):
    """The archive segments' side of the outbox, at most ``limit``: putting one more
    drops the oldest (counted in ``dropped``); one the disk refuses is dropped too."""

    def __init__(self, outbox: Outbox, limit: int) -> None:
        super().__init__(outbox, "archive", ArchiveIn)
        self.limit = max(1, limit)
        self.dropped = 0

    def put(self, item: ArchiveIn) -> None:
        ob = self._outbox
        with ob._lock:
            try:
                with ob._tx() as db:
                    db.execute(
                        "INSERT INTO archive (key, body) VALUES (?, ?) "
                        "ON CONFLICT (key) DO NOTHING",
                        (item.key, item.model_dump_json()),
                    )
                    (n,) = db.execute("SELECT COUNT(*) FROM archive").fetchone()
                    over = int(n) - self.limit
                    if over > 0:
                        db.execute(
                            "DELETE FROM archive WHERE seq IN "
                            "(SELECT seq FROM archive ORDER BY seq LIMIT ?)",
                            (over,),
                        )
            except sqlite3.Error as exc:
                self.dropped += 1
                ob._write_failed("archive_put", exc)
                return
            self.dropped += max(0, over)


def _values(p: PlayIn) -> tuple[object, ...]:
    """A play as the row ``_UPSERT`` writes."""
    return (
        p.key,
        p.stream_id,
        p.epoch,
        p.track_id,
        p.started_at.isoformat(),
        p.ended_at.isoformat() if p.ended_at else None,
        p.confidence,
        datetime.now(UTC).isoformat(),
        p.song_origin.isoformat() if p.song_origin else None,
    )


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
