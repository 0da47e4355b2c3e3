"""Against a real orchestrator process: one confidence, one true end.

Two simulated workers speak plain HTTP to ``airtrack orchestrator`` (its own control
loop moves the stream from one to the other); the play log is read back through the API.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from airtrack.protocol import CREDENTIAL_HEADER
from tests.support.wait import until

from .orch_support import ADMIN, WORKER

ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}


class HttpWorker:
    """A worker as the orchestrator sees it: register, heartbeat, plays, deregister."""

    def __init__(self, url: str, worker_id: str) -> None:
        self.id = worker_id
        headers = {
            "Authorization": f"Bearer {WORKER}",
            CREDENTIAL_HEADER: secrets.token_urlsafe(32),
        }
        self.http = httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=10)
        self.running: dict[int, int] = {}

    def register(self) -> None:
        r = self.http.post("/workers/register", json={"worker_id": self.id, "capacity": 4})
        assert r.status_code == 200, r.text
        self.running = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}

    def heartbeat(self) -> None:
        streams = [
            {"stream_id": s, "epoch": e, "status": "running"} for s, e in self.running.items()
        ]
        r = self.http.post(f"/workers/{self.id}/heartbeat", json={"streams": streams})
        assert r.status_code == 200, r.text
        self.running = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}

    def owns(self, sid: int, timeout: float = 30) -> None:
        def got() -> bool:
            if sid not in self.running:
                self.heartbeat()
            return sid in self.running

        until(got, timeout, f"{self.id} gets stream {sid}", step=0.3)

    def play(self, sid: int, track: int, key: str, start: datetime, **kw: Any) -> str:
        body: dict[str, Any] = {
            "key": key,
            "stream_id": sid,
            "epoch": self.running[sid],
            "track_id": track,
            "started_at": start.isoformat(),
            "confidence": kw.get("confidence", 0.9),
        }
        if kw.get("end") is not None:
            body["ended_at"] = kw["end"].isoformat()
        r = self.http.post("/plays", json={"worker_id": self.id, "plays": [body]})
        assert r.status_code == 200, r.text
        status: str = r.json()["results"][0]["status"]
        return status

    def deregister(self) -> None:
        r = self.http.post(f"/workers/{self.id}/deregister")
        assert r.status_code == 200, r.text

    def close(self) -> None:
        self.http.close()


def _track(db_url: str, title: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO tracks (title, artist, source, duration_s, content_sha256) "
            "VALUES (%s, 'Artist', 'x.mp3', 180, %s) RETURNING id",
            (title, uuid.uuid4().hex),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_confidence_and_end_hold_across_a_real_handoff(replica: Any, db_url: str) -> None:
    with httpx.Client(base_url=f"{replica.url}/api/v1", headers=ADMIN_H, timeout=10) as api:
        a, b = HttpWorker(replica.url, "real-a"), HttpWorker(replica.url, "real-b")
        try:
            _handoff(api, a, b, db_url)
        finally:
            a.close()
            b.close()


def _handoff(api: httpx.Client, a: HttpWorker, b: HttpWorker, db_url: str) -> None:
    r = api.post("/streams", json={"name": "handoff", "url": "http://127.0.0.1:9/h"})
    assert r.status_code == 201, r.text
    sid = int(r.json()["id"])
    song, after = _track(db_url, "Song"), _track(db_url, "After")
    a.register()
    a.owns(sid)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    true_end = t0 + timedelta(seconds=150)
    # detected with little evidence, ended with a lot
    assert a.play(sid, song, "real-song-a", t0, confidence=0.65) == "stored"
    assert a.play(sid, song, "real-song-a", t0, confidence=0.999, end=true_end) == "stored"
    assert a.play(sid, after, "real-after-a", true_end) == "stored"
    # the stream moves to b through the real control loop
    b.register()
    a.deregister()
    b.owns(sid)
    # b dates the tail of the song it heard 16 s late
    start_b = t0 + timedelta(seconds=1)
    assert b.play(sid, song, "real-song-b", start_b) == "stored"
    b.play(sid, song, "real-song-b", start_b, end=true_end + timedelta(seconds=16))
    plays = sorted(api.get("/plays").json(), key=lambda p: p["started_at"])
    assert [p["title"] for p in plays] == ["Song", "After"], "one airing, one row"
    first = plays[0]
    assert first["confidence"] == 0.999
    assert datetime.fromisoformat(first["started_at"]) == t0
    assert datetime.fromisoformat(first["ended_at"]) == true_end
