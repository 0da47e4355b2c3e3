"""Proof clips over the real API and PostgreSQL: the fenced upload, its caps, the tie to
a play by its key, clip requests and retention.

Only the stream's owner at its epoch may upload a clip; a clip above
``clip_max_bytes`` is refused with 413; beyond ``clips_per_stream_hour`` a stream's
clips come back ``limited``. A play's clip is found by the play's idempotency key,
whichever arrives first; a requested clip carries its request's unknown.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest

from airtrack.api import create_app, wrap
from airtrack.errors import OrchestratorUnavailable
from airtrack.orchestrator import clips
from airtrack.protocol import ClipIn
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.clip_upload import ClipEncoder, ClipSpool, ClipUploader, encode_opus
from airtrack.worker.clips import ClipJob, ClipStats, clip_key
from tests.support.ports import refused_port
from tests.support.tokens import WORKER
from tests.unit._synth_music import song

from .orch_support import SimWorker, fast_settings, orchestrator, settle

AUDIO = encode_opus(np.rint(song(3, 4) * 32767).astype(np.int16), 8000, 16000)


def _clip(
    sid: int, epoch: int, *, play_key: str | None = None, name: str = "", **kw: Any
) -> ClipIn:
    fields: dict[str, Any] = {
        "key": clip_key(play_key or name or str(kw.get("request_id"))),
        "stream_id": sid,
        "epoch": epoch,
        "started_at": datetime.now(UTC) - timedelta(seconds=30),
        "duration_s": 4.0,
        "play_key": play_key,
        "data": base64.b64encode(AUDIO).decode(),
        **kw,
    }
    return ClipIn(**fields)


def _body(worker: str, items: list[ClipIn]) -> dict[str, Any]:
    return {"worker_id": worker, "clips": [c.model_dump(mode="json") for c in items]}


async def test_clips_are_fenced_capped_and_found_by_their_play(db_url: str, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, clip_max_bytes=20_000, clips_per_stream_hour=4)
    async with orchestrator(db_url, settings) as orch:
        (sid,) = await orch.add_streams(1, prefix="radio")
        owner, other = SimWorker(orch, "w1", 1), SimWorker(orch, "w2", 1)
        await owner.register()
        await settle(orch, [owner])
        await other.register()
        epoch = owner.running[sid]
        track = await orch.add_track()

        # the clip may arrive before its play: it is found by the play's key all the same
        key = "p" * 32
        clip = _clip(sid, epoch, play_key=key)
        post = {"headers": owner.auth, "json": _body(owner.id, [clip])}
        r = await orch.worker_call("POST", "/clips", **post)
        assert r.status_code == 200, r.text
        assert r.json()["results"] == [{"key": clip.key, "status": "stored"}]
        r = await orch.worker_call("POST", "/clips", **post)
        assert r.json()["results"][0]["status"] == "duplicate"
        r = await owner.play(sid, track=track, key=key)
        assert r.status_code == 200, r.text
        (play,) = (await orch.admin("GET", "/plays")).json()
        r = await orch.admin("GET", f"/plays/{play['id']}/clip")
        assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg"
        assert r.content == AUDIO

        # a play without a clip, an unknown without one: 404
        r = await owner.play(sid, track=await orch.add_track("Other"))
        assert r.status_code == 200
        newest = (await orch.admin("GET", "/plays")).json()[0]
        assert (await orch.admin("GET", f"/plays/{newest['id']}/clip")).status_code == 404
        assert (await orch.admin("GET", "/unknowns/5/clip")).status_code == 404

        # another worker may not upload clips of a stream it does not own
        r = await orch.worker_call(
            "POST",
            "/clips",
            headers=other.auth,
            json=_body(other.id, [_clip(sid, epoch, name="o")]),
        )
        assert r.status_code == 409 and r.json()["results"][0]["status"] == "stale"
        # nor the owner at a stale epoch
        r = await orch.worker_call(
            "POST",
            "/clips",
            headers=owner.auth,
            json=_body(owner.id, [_clip(sid, epoch - 1, name="e")]),
        )
        assert r.status_code == 409
        # a clip larger than the cap: 413, nothing stored
        big = _clip(sid, epoch, name="big", data=base64.b64encode(b"x" * 30_000).decode())
        r = await orch.worker_call(
            "POST", "/clips", headers=owner.auth, json=_body(owner.id, [big])
        )
        assert r.status_code == 413, r.text
        # the hourly cap per stream: 4 stored, the rest limited
        more = [_clip(sid, epoch, name=f"more{i}") for i in range(4)]
        r = await orch.worker_call("POST", "/clips", headers=owner.auth, json=_body(owner.id, more))
        assert [x["status"] for x in r.json()["results"]] == ["stored"] * 3 + ["limited"]

        # a clip request: handed to the owner in its heartbeat reply, answered by a clip
        now = datetime.now(UTC)
        request = await clips.request_clip(
            orch.db, sid, now - timedelta(seconds=40), now - timedelta(seconds=30), 7
        )
        again = await clips.request_clip(
            orch.db, sid, now - timedelta(seconds=40), now - timedelta(seconds=30), 7
        )
        assert again == request
        await orch.state.clip_requests.refresh(orch.db)
        r = await owner.heartbeat()
        assert [w["id"] for w in r.json()["clip_requests"]] == [request]
        r = await other.heartbeat()
        assert "clip_requests" not in r.json()  # not its stream
        with psycopg.connect(db_url) as conn:  # room under the hourly cap
            conn.execute("UPDATE clips SET received_at = received_at - interval '2 hours'")
        answer = _clip(sid, epoch, request_id=request)
        r = await orch.worker_call(
            "POST", "/clips", headers=owner.auth, json=_body(owner.id, [answer])
        )
        assert r.json()["results"][0]["status"] == "stored"
        got = await clips.clip_of_unknown(orch.db, 7)
        assert got is not None and got.data == AUDIO
        r = await orch.admin("GET", "/unknowns/7/clip")
        assert r.status_code == 200 and r.content == AUDIO
        done = await clips.clip_request(orch.db, request)
        assert done is not None and done["state"] == "done"
        await orch.state.clip_requests.refresh(orch.db)
        assert "clip_requests" not in (await owner.heartbeat()).json()

        # retention: requests past the buffers expire, clips past clip_days go
        late = await clips.request_clip(
            orch.db, sid, now - timedelta(hours=2), now - timedelta(hours=2) + timedelta(seconds=5)
        )
        with psycopg.connect(db_url) as conn:
            conn.execute(
                "UPDATE clips SET started_at = started_at - make_interval(days => %s)"
                " WHERE request_id IS NULL",
                (settings.clip_days + 1,),
            )
        done_now = await clips.maintain(orch.db, settings)
        assert done_now == {"expired": 1, "clips": 4, "requests": 0}
        late_row = await clips.clip_request(orch.db, late)
        assert late_row is not None and late_row["state"] == "expired"
        assert (await orch.admin("GET", f"/plays/{play['id']}/clip")).status_code == 404
        assert (await orch.admin("GET", "/unknowns/7/clip")).status_code == 200


async def test_clips_wait_on_disk_while_the_orchestrator_is_away_then_go(
    db_url: str, tmp_path: Path
) -> None:
    """The encoder thread spools what the streams cut (at most ``clip_spool_max``, the
    oldest dropped); while the orchestrator cannot be reached the clips stay on disk,
    and the next upload sends them all."""
    settings = fast_settings(tmp_path)
    async with orchestrator(db_url, settings) as orch:
        (sid,) = await orch.add_streams(1, prefix="radio")
        owner = SimWorker(orch, "w1", 1)
        await owner.register()
        await settle(orch, [owner])
        epoch = owner.running[sid]

        stats = ClipStats()
        spool = ClipSpool(tmp_path / "clips", 3, stats)
        encoder = ClipEncoder(spool, bitrate=16000, queue_max=8, stats=stats)
        pcm = np.rint(song(3, 4) * 32767).astype(np.int16)
        started = datetime.now(UTC) - timedelta(seconds=30)
        for i in range(4):
            job = ClipJob(clip_key(f"job{i}"), sid, epoch, started, pcm, 8000, play_key=f"{i:032d}")
            assert encoder.offer(job)
        encoder.close(60)
        assert (stats.encoded, stats.dropped, len(spool)) == (4, 1, 3)  # the oldest went

        def client(url: str, transport: httpx.AsyncBaseTransport | None) -> OrchestratorClient:
            return OrchestratorClient(
                url,
                WORKER,
                worker_id=owner.id,
                credential=owner.credential,
                retries=1,
                transport=transport,
            )

        with refused_port() as port:
            away = client(f"http://127.0.0.1:{port}", None)
            with pytest.raises(OrchestratorUnavailable):
                await ClipUploader(spool, away, stats, interval_s=1).upload_once()
            await away.aclose()
        assert len(spool) == 3

        back = client(
            "http://orchestrator", httpx.ASGITransport(app=wrap(create_app(orch.state), settings))
        )
        assert await ClipUploader(spool, back, stats, interval_s=1).upload_once() == 3
        await back.aclose()
        assert (len(spool), stats.uploaded) == (0, 3)
        with psycopg.connect(db_url) as conn:
            keys = conn.execute("SELECT play_key FROM clips ORDER BY play_key").fetchall()
        assert [k[0] for k in keys] == [f"{i:032d}" for i in (1, 2, 3)]
