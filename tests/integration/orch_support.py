"""In-process orchestrator (real DB, real ASGI HTTP) and simulated workers for tests."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from airtrack.api import AppState, create_app, wrap
from airtrack.db import Database
from airtrack.orchestrator.control import ControlLoop
from airtrack.orchestrator.tokens import Tokens
from airtrack.protocol import CREDENTIAL_HEADER
from airtrack.settings import Settings, load_settings
from tests.support.tokens import ADMIN, WORKER


def fast_settings(home: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "home": home,
        "heartbeat_interval_s": 0.5,
        "lease_ttl_s": 1.0,
        "inactive_after_s": 3.0,
        "control_tick_s": 0.25,
        "start_grace_s": 0.0,
        "admin_token": ADMIN,
        "worker_token": WORKER,
        "db_retry_base_s": 0.02,
    }
    base.update(kw)
    return load_settings(**base)


@dataclass
class Orchestrator:
    db: Database
    state: AppState
    control: ControlLoop
    http: httpx.AsyncClient

    async def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.http.request(
            method, f"/api/v1{path}", headers={"Authorization": f"Bearer {ADMIN}"}, **kw
        )

    async def worker_call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {WORKER}", **kw.pop("headers", {})}
        return await self.http.request(method, f"/api/v1{path}", headers=headers, **kw)

    async def add_streams(self, n: int, prefix: str = "s") -> list[int]:
        ids = []
        for i in range(n):
            r = await self.admin(
                "POST",
                "/streams",
                json={"name": f"{prefix}{i}", "url": f"http://127.0.0.1:9/{prefix}{i}"},
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        return ids

    async def add_track(self, title: str = "Song") -> int:
        async def fn(tx: Any) -> int:
            rows = await tx.execute_raw(
                "INSERT INTO tracks (title, artist, source, duration_s, content_sha256) "
                "VALUES (%s, 'Artist', 'x.mp3', 180, %s) RETURNING id",
                (title, uuid.uuid4().hex),
            )
            return int(rows[0]["id"])

        return int(await self.db.run("test_add_track", fn))

    async def plays_by_start(self) -> list[dict[str, Any]]:
        """The play log (``GET /plays``), oldest first."""
        rows: list[dict[str, Any]] = (await self.admin("GET", "/plays")).json()
        return sorted(rows, key=lambda p: p["started_at"])

    async def owners(self) -> dict[int, str | None]:
        r = await self.admin("GET", "/assignments")
        return {a["stream_id"]: a["worker_id"] for a in r.json() if a["state"] == "assigned"}

    async def assignments(self) -> list[dict[str, Any]]:
        r = await self.admin("GET", "/assignments")
        rows: list[dict[str, Any]] = r.json()
        return rows


@dataclass
class SimWorker:
    """A well-behaved worker: runs exactly what the last reply assigned.

    Like the real worker it presents its own credential on every call.
    """

    orch: Orchestrator
    id: str
    capacity: int
    running: dict[int, int] = field(default_factory=dict)
    credential: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def auth(self) -> dict[str, str]:
        """The headers that make a call this worker's (pass to ``worker_call``)."""
        return {CREDENTIAL_HEADER: self.credential}

    async def register(self) -> dict[str, Any]:
        r = await self.orch.worker_call(
            "POST",
            "/workers/register",
            json={"worker_id": self.id, "capacity": self.capacity, "host": "test"},
            headers=self.auth,
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        self.running = {a["stream_id"]: a["epoch"] for a in body["assignments"]}
        return body

    async def heartbeat(self, extra: dict[int, int] | None = None) -> httpx.Response:
        report = {**self.running, **(extra or {})}
        r = await self.orch.worker_call(
            "POST",
            f"/workers/{self.id}/heartbeat",
            json={
                "streams": [
                    {"stream_id": s, "epoch": e, "status": "running"}
                    for s, e in sorted(report.items())
                ]
            },
            headers=self.auth,
        )
        if r.status_code == 200:
            self.running = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}
        return r

    async def send_play(
        self, sid: int, track: int, key: str, start: datetime, end: datetime | None = None,
        *, confidence: float = 0.9, origin: datetime | None = None,
    ) -> httpx.Response:  # fmt: skip
        """Report one play of ``track`` on stream ``sid`` at the epoch this worker runs."""
        play: dict[str, Any] = {
            "key": key,
            "stream_id": sid,
            "epoch": self.running[sid],
            "track_id": track,
            "started_at": start.isoformat(),
            "confidence": confidence,
        }
        if end is not None:
            play["ended_at"] = end.isoformat()
        if origin is not None:
            play["song_origin"] = origin.isoformat()
        return await self.orch.worker_call(
            "POST", "/plays", json={"worker_id": self.id, "plays": [play]}, headers=self.auth
        )

    async def deregister(self) -> httpx.Response:
        self.running = {}
        return await self.orch.worker_call(
            "POST", f"/workers/{self.id}/deregister", headers=self.auth
        )

    async def play(
        self,
        stream_id: int,
        epoch: int | None = None,
        track: int = 1,
        key: str | None = None,
        *,
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        origin: datetime | None = None,
    ) -> httpx.Response:
        play: dict[str, Any] = {
            "key": key or uuid.uuid4().hex,
            "stream_id": stream_id,
            "epoch": self.running.get(stream_id, 0) if epoch is None else epoch,
            "track_id": track,
            "started_at": (started_at or datetime.now(UTC)).isoformat(),
            "confidence": 0.9,
        }
        if ended_at is not None:
            play["ended_at"] = ended_at.isoformat()
        if origin is not None:
            play["song_origin"] = origin.isoformat()
        return await self.orch.worker_call(
            "POST", "/plays", headers=self.auth, json={"worker_id": self.id, "plays": [play]}
        )


@asynccontextmanager
async def orchestrator(db_url: str, settings: Settings) -> AsyncIterator[Orchestrator]:
    db = Database(db_url, settings, min_size=1, max_size=8)
    await db.open()
    control = ControlLoop(db, settings, db_url)
    state = AppState(
        db=db, settings=settings, tokens=Tokens(ADMIN, WORKER, False, None), control=control
    )
    app = create_app(state)
    transport = httpx.ASGITransport(app=wrap(app, settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as http:
        try:
            yield Orchestrator(db, state, control, http)
        finally:
            await db.close()


async def settle(orch: Orchestrator, workers: list[SimWorker], rounds: int = 4) -> None:
    """Ticks and heartbeats until revoke-then-assign handoffs have completed."""
    for _ in range(rounds):
        await orch.control.tick()
        for w in workers:
            await w.heartbeat()
