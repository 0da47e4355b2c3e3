"""What the outbox sender drops when the orchestrator refuses a batch (4xx): only items it
refuses alone while others of the batch go through.  When every item is refused alone the
fault is the request's (here a worker token the orchestrator no longer takes), and every
item stays queued.  The real orchestrator over HTTP (uvicorn on 127.0.0.1), the real client,
outbox and sender."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airtrack.protocol import PlayIn, RegisterRequest
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.outbox import Outbox
from airtrack.worker.sender import OutboxSender
from tests.integration import test_worker_titles as worker_titles
from tests.integration.orch_support import WORKER, fast_settings
from tests.integration.test_worker_orchestrator import LiveOrchestrator

WID = "w-refusals"


orch = worker_titles.orch  # the orchestrator served by uvicorn, as the titles tests use it


def _client(orch: LiveOrchestrator, token: str) -> OrchestratorClient:
    return OrchestratorClient(
        orch.url, token, timeout_s=5.0, retry_base_s=0.02, retry_cap_s=0.1, worker_id=WID
    )


def _sender(tmp_path: Path, client: OrchestratorClient) -> tuple[OutboxSender, list[str]]:
    down: list[str] = []
    sender = OutboxSender(
        Outbox(tmp_path / "outbox.sqlite"),
        client,
        fast_settings(tmp_path / "w"),
        on_unavailable=down.append,
        stop_stale_stream=lambda sid, epoch: None,
    )
    return sender, down


def _play(stream_id: int, track_id: int, i: int) -> PlayIn:
    return PlayIn(
        key=uuid.uuid4().hex,
        stream_id=stream_id,
        epoch=1,
        track_id=track_id,
        started_at=datetime.now(UTC) - timedelta(minutes=10 - i),
        confidence=0.9,
    )


async def _track(orch: LiveOrchestrator) -> int:
    assert orch.db is not None

    async def fn(tx: Any) -> int:
        rows = await tx.execute_raw(
            "INSERT INTO tracks (title, source, duration_s, content_sha256) "
            "VALUES ('Song', 'x.mp3', 180, %s) RETURNING id",
            (uuid.uuid4().hex,),
        )
        return int(rows[0]["id"])

    return int(await orch.db.run("test_track", fn))


async def test_a_token_the_orchestrator_no_longer_takes_drops_nothing(
    orch: LiveOrchestrator, tmp_path: Path
) -> None:
    r = await orch.admin("POST", "/streams", json={"name": "s", "url": "http://127.0.0.1:9/s"})
    sid, track = int(r.json()["id"]), await _track(orch)
    client = _client(orch, "a-rotated-token")
    sender, down = _sender(tmp_path, client)
    try:
        sender.outbox.put_many([_play(sid, track, i) for i in range(4)])
        assert await sender.send_round() == -1  # stuck, as when unreachable
        assert len(sender.outbox) == 4 and sender.plays.rejected == 0
        assert down and "401" in down[-1]
    finally:
        await client.aclose()
        sender.outbox.close()


async def test_only_the_item_refused_alone_is_dropped_when_others_go_through(
    orch: LiveOrchestrator, tmp_path: Path
) -> None:
    r = await orch.admin("POST", "/streams", json={"name": "s", "url": "http://127.0.0.1:9/s"})
    sid, track = int(r.json()["id"]), await _track(orch)
    client = _client(orch, WORKER)
    sender, _ = _sender(tmp_path, client)
    try:
        await client.register(RegisterRequest(worker_id=WID, capacity=1))
        good = [_play(sid, track, i) for i in range(3)]
        unknown = _play(sid, track + 1000, 3)  # a track the catalog does not have: a 422
        sender.outbox.put_many([good[0], unknown, *good[1:]])
        assert await sender.send_round() > 0
        assert len(sender.outbox) == 0
        assert sender.plays.rejected == 1
        # the others were answered (stored, or stale for a stream it may not own yet)
        assert sender.plays.acked + sender.plays.stale == 3
    finally:
        await client.aclose()
        sender.outbox.close()
