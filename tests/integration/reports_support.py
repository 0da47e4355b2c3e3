"""A small, exactly known play log in two time zones, written straight into the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airtrack.db import Database

PARIS, NY = "Paris FM", "NY Radio"
ISRC = "FRABC2600001"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def seed(db: Database) -> dict[str, int]:
    """Two stations, two tracks, five plays around 2026-03-01 (see the test docstrings)."""

    async def fn(tx: Any) -> dict[str, int]:
        async def one(sql: str, params: tuple[Any, ...]) -> int:
            rows = await tx.execute_raw(sql + " RETURNING id", params)
            return int(rows[0]["id"])

        ids: dict[str, int] = {}
        ids["paris"] = await one(
            "INSERT INTO streams (name, url, timezone, created_at) VALUES (%s, "
            "'http://127.0.0.1:9/p', 'Europe/Paris', '2026-01-01T00:00:00Z')",
            (PARIS,),
        )
        ids["ny"] = await one(
            "INSERT INTO streams (name, url, timezone, created_at) VALUES (%s, "
            "'http://127.0.0.1:9/n', 'America/New_York', '2026-01-01T00:00:00Z')",
            (NY,),
        )
        ids["t1"] = await one(
            "INSERT INTO tracks (title, artist, source, duration_s, content_sha256, album, "
            "label, isrc, iswc, composers) VALUES ('Song One', 'Artist A', 'one.mp3', 200, "
            "'sha1', 'Album', 'Label', %s, 'T-123456789-0', '{Ann,Bob}')",
            (ISRC,),
        )
        ids["t2"] = await one(
            "INSERT INTO tracks (title, artist, source, duration_s, content_sha256) "
            "VALUES ('Song Two', 'Artist B', 'two.mp3', 210, 'sha2')",
            (),
        )
        plays = [
            # Paris (UTC+1): 23:58 -> 00:03 local across midnight into 2026-03-01: clipped
            ("p1", "paris", "t1", "2026-02-28T22:58:00", "2026-02-28T23:03:00"),
            ("p2", "paris", "t2", "2026-03-01T10:00:00", "2026-03-01T10:03:30"),
            ("p3", "paris", "t1", "2026-03-01T23:30:00", "2026-03-01T23:33:00"),  # Mar 2 local
            ("p4", "ny", "t2", "2026-03-01T04:00:00", "2026-03-01T04:03:00"),  # Feb 28 local
            ("p5", "ny", "t1", "2026-03-01T15:00:00", "2026-03-01T15:04:00"),
        ]
        for key, stream, track, start, end in plays:
            ids[key] = await one(
                "INSERT INTO plays (idempotency_key, stream_id, track_id, started_at, ended_at, "
                "confidence, worker_id, epoch) VALUES (%s, %s, %s, %s, %s, 0.9, 'w1', 1)",
                (key, ids[stream], ids[track], utc(start), utc(end)),
            )
        return ids

    return await db.run("test_seed_reports", fn)


async def seed_history(db: Database, stream_id: int) -> None:
    """Paris on 2026-03-01 local (23:00Z..23:00Z): owned but for 05-06Z, silent 12-13Z,
    down 13-14Z: 21 h monitored."""

    async def fn(tx: Any) -> None:
        for epoch, at, worker in [
            (1, "2026-02-20T00:00:00", "w1"),
            (2, "2026-03-01T05:00:00", None),
            (3, "2026-03-01T06:00:00", "w2"),
        ]:
            await tx.execute_raw(
                "INSERT INTO assignment_epochs (stream_id, epoch, worker_id, at) "
                "VALUES (%s, %s, %s, %s)",
                (stream_id, epoch, worker, utc(at)),
            )
        for at, status, error in [
            ("2026-02-20T00:00:00", "running", None),
            ("2026-03-01T12:00:00", "failed", "silence: no audio for 300 s"),
            ("2026-03-01T13:00:00", "retrying", "connection refused"),
            ("2026-03-01T14:00:00", "running", None),
        ]:
            await tx.execute_raw(
                "INSERT INTO stream_status_log (stream_id, at, status, error, worker_id) "
                "VALUES (%s, %s, %s, %s, 'w1')",
                (stream_id, utc(at), status, error),
            )

    await db.run("test_seed_history", fn)
