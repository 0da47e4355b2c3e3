"""The fingerprint archive over the real API and PostgreSQL, and back-fill from it.

Segments come from the worker's own recorder (ArchiveRecorder fed by a StreamingMatcher
that does not know the song) and go through POST /archive like any fenced batch: only the
stream's owner at its epoch may archive, sizes are capped. Back-fill then finds the
song's airings where they were, once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from airtrack.fingerprint import fingerprint_samples, pack_prints
from airtrack.fingerprint import params as P
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.matcher import StreamingMatcher
from airtrack.orchestrator import archive
from airtrack.orchestrator.backfill import BackfillJob, backfill
from airtrack.protocol import ArchiveIn
from airtrack.worker.archive import ArchiveRecorder
from tests.integration.test_catalog_delta_live import insert_song
from tests.unit._synth_music import song

from .orch_support import SimWorker, fast_settings, orchestrator, settle

SR = P.SAMPLE_RATE


class _Sink:
    def __init__(self) -> None:
        self.segments: list[ArchiveIn] = []

    def put_archive(self, segment: ArchiveIn) -> None:
        self.segments.append(segment)


def _archive(sid: int, epoch: int, program: np.ndarray, origin: datetime) -> list[ArchiveIn]:
    """What a worker archives hearing ``program`` from ``origin`` (its catalog: another
    song)."""
    matcher = StreamingMatcher(Index.build([(99, pack_prints(fingerprint_samples(song(9, 10))))]))
    sink = _Sink()
    rec = ArchiveRecorder(
        sid,
        epoch,
        sink,
        lambda s: origin + timedelta(seconds=s),
        segment_s=5,
        max_bytes_per_s=2000,
    )
    matcher.on_pairs = rec.on_pairs
    for i in range(0, len(program), SR // 2):
        matcher.feed(program[i : i + SR // 2])
    matcher.close()
    rec.close(matcher.frames)
    return sink.segments


def _body(worker: str, segs: list[ArchiveIn]) -> dict[str, Any]:
    return {"worker_id": worker, "segments": [s.model_dump(mode="json") for s in segs]}


async def test_archive_is_fenced_and_backfill_finds_each_airing_once(
    db_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(
        tmp_path, archive_segment_max_bytes=20_000, backfill_delay_s=0, backfill_streams_per_pass=1
    )
    async with orchestrator(db_url, settings) as orch:
        sid, sid2 = await orch.add_streams(2, prefix="radio")
        owner, other = SimWorker(orch, "w1", 2), SimWorker(orch, "w2", 1)
        await owner.register()
        await settle(orch, [owner])
        await other.register()
        epoch = owner.running[sid]

        b = song(41, 12)
        gap = np.zeros(3 * SR, np.float32)
        origin = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        segs = _archive(sid, epoch, np.concatenate([b, gap, b, gap]), origin)
        assert len(segs) >= 5 and all(s.pairs > 0 for s in segs[:2])
        segs2 = _archive(sid2, owner.running[sid2], np.concatenate([gap, b]), origin)
        r = await orch.worker_call(
            "POST", "/archive", headers=owner.auth, json=_body(owner.id, segs2)
        )
        assert r.status_code == 200, r.text

        post = {"headers": owner.auth, "json": _body(owner.id, segs)}
        r = await orch.worker_call("POST", "/archive", **post)
        assert r.status_code == 200, r.text
        assert {x["status"] for x in r.json()["results"]} == {"stored"}
        r = await orch.worker_call("POST", "/archive", **post)
        assert {x["status"] for x in r.json()["results"]} == {"duplicate"}

        # another worker may not archive a stream it does not own
        r = await orch.worker_call(
            "POST", "/archive", headers=other.auth, json=_body(other.id, segs[:1])
        )
        assert r.status_code == 409 and r.json()["results"][0]["status"] == "stale"
        # nor at a stale epoch, nor send more than the cap
        r = await orch.worker_call(
            "POST",
            "/archive",
            headers=owner.auth,
            json=_body(owner.id, [segs[0].model_copy(update={"epoch": epoch - 1, "key": "x" * 9})]),
        )
        assert r.status_code == 409
        big = segs[0].model_copy(update={"data": "A" * 40_000, "key": "y" * 9})
        r = await orch.worker_call(
            "POST", "/archive", headers=owner.auth, json=_body(owner.id, [big])
        )
        assert r.status_code == 422

        async def add(tx: Any) -> int:
            return await insert_song(tx, 41, b)

        track = int(await orch.db.run("test_add_song", add))
        # the leader's job: one stream a pass, the track marked done with its last stream
        job = BackfillJob(orch.db, settings)
        assert await job.step() is None and job.run is not None
        report = await job.step()
        assert report is not None and (report.streams, report.found, report.stored) == (2, 3, 3)
        assert await job.step() is None and job.run is None  # nothing due any more
        with psycopg.connect(db_url) as conn:
            plays = conn.execute(
                "SELECT started_at, ended_at, source FROM plays"
                " WHERE track_id = %s AND stream_id = %s ORDER BY 1",
                (track, sid),
            ).fetchall()
        truth = [origin, origin + timedelta(seconds=15)]
        for p, t in zip(plays, truth, strict=True):
            started, ended, source = p
            assert source == "backfill"
            assert abs((started - t).total_seconds()) < 3.0, (p, t)
            assert 8 < (ended - started).total_seconds() < 16, p

        # a re-run changes nothing
        again = await backfill(orch.db, settings, [track])
        assert (again.found, again.stored, again.duplicate) == (3, 0, 3)

        r = await orch.admin("GET", "/plays", params={"track_id": track})
        assert [p["play_source"] for p in r.json()] == ["backfill"] * 3

    with psycopg.connect(db_url) as conn:
        types = conn.execute(
            "SELECT type FROM outbound_events WHERE (data->>'backfilled')::boolean ORDER BY id"
        ).fetchall()
    assert [t[0] for t in types] == ["play.started", "play.ended"] * 3


async def test_partitions_are_made_ahead_and_dropped_after_the_kept_days(
    db_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(tmp_path, archive_days=7)
    async with orchestrator(db_url, settings) as orch:
        old = (datetime.now(UTC) - timedelta(days=10)).date()
        with psycopg.connect(db_url) as conn:
            conn.execute("SELECT airtrack_archive_partition(%s)", (old,))
        done = await archive.maintain(orch.db, settings)
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
        assert f"fingerprint_archive_{tomorrow:%Y%m%d}" in done["created"]
        assert done["dropped"] == [f"fingerprint_archive_{old:%Y%m%d}"]
        assert (await archive.maintain(orch.db, settings)) == {"created": [], "dropped": []}
