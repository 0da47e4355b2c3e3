"""Event delivery against a real orchestrator process on 127.0.0.1, as hostile or merely
careless clients use it: hundreds of SSE clients dropping at random moments, a receiver
that keeps failing, junk and far-away resume points, URLs the policy must refuse.

Request loops are bounded in count and time; every process is stopped by pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airtrack.db import Database
from airtrack.settings import load_settings
from tests.support.wait import until_async

from .orch_support import ADMIN
from .test_orchestrator_replicas import Replica
from .test_webhooks import Receiver, _emit, _wait

AUTH = {"Authorization": f"Bearer {ADMIN}"}
#: SSE clients opened and dropped at random moments.
CHURN_CLIENTS = 200


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.kill()


def _start(db_url: str, tmp_path: Path, **env: str) -> Replica:
    rep = Replica(db_url, tmp_path / "home", tmp_path / "orchestrator.log", env=env)
    try:
        rep.wait_ready()
    except BaseException:
        rep.stop()
        raise
    return rep


def _log_lines(rep: Replica) -> list[dict[str, Any]]:
    lines = []
    for line in rep.log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


async def _next_events(
    client: httpx.AsyncClient,
    n: int,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    then: Any = None,
) -> list[dict[str, Any]]:
    """Open the stream, run ``then()`` once it answered, read ``n`` events (bounded)."""
    got: list[dict[str, Any]] = []
    cur: dict[str, Any] = {}
    async with asyncio.timeout(30):
        async with client.stream(
            "GET", "/api/v1/events", params=params or {}, headers={**AUTH, **(headers or {})}
        ) as resp:
            assert resp.status_code == 200, await resp.aread()
            if then is not None:
                await then()
            async for line in resp.aiter_lines():
                if not line:
                    if "data" in cur:
                        got.append({**cur, "data": json.loads(cur["data"])})
                    cur = {}
                    if len(got) == n:
                        break
                    continue
                key, _, value = line.partition(":")
                cur[key] = value.lstrip()
    return got


async def _churn(url: str, db: Database, rng: random.Random) -> int:
    """Open CHURN_CLIENTS streams and drop each at a random moment; events keep coming."""
    opened = 0
    stop = asyncio.Event()

    async def emitter() -> None:
        while not stop.is_set():
            await _emit(db, 1)
            await asyncio.sleep(rng.uniform(0.005, 0.05))

    async def client(http: httpx.AsyncClient, gate: asyncio.Semaphore) -> None:
        nonlocal opened
        async with gate:
            params = {"after": str(rng.randint(0, 50))} if rng.random() < 0.3 else {}
            # most drop once connected, some before the answer (a tab closed early)
            early = rng.random() < 0.2
            try:
                async with asyncio.timeout(rng.uniform(0.0, 0.2) if early else 15):
                    async with http.stream(
                        "GET", "/api/v1/events", params=params, headers=AUTH
                    ) as resp:
                        opened += 1
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(rng.uniform(0.0, 0.5)):
                                async for _ in resp.aiter_bytes():
                                    pass
            except (TimeoutError, httpx.HTTPError):
                pass

    emitting = asyncio.create_task(emitter())
    limits = httpx.Limits(max_connections=60, max_keepalive_connections=0)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as http:
            gate = asyncio.Semaphore(40)
            async with asyncio.timeout(120):
                await asyncio.gather(*(client(http, gate) for _ in range(CHURN_CLIENTS)))
    finally:
        stop.set()
        await emitting
    return opened


async def test_dropped_sse_clients_never_stop_delivery(
    db_url: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    """Hundreds of SSE clients dropping at random moments (their waits' timeouts firing
    every few ms) leave the event stream, webhooks and shutdown working."""
    rep = _start(db_url, tmp_path, AIRTRACK_EVENTS_POLL_S="0.03", AIRTRACK_DB_POOL_MAX="20")
    try:
        async with (
            Database(db_url, load_settings(home=tmp_path / "h"), min_size=0, max_size=2) as db,
            httpx.AsyncClient(base_url=rep.url, timeout=30) as http,
        ):
            opened = await _churn(rep.url, db, random.Random(20))
            assert opened >= CHURN_CLIENTS // 2, "the churn reached the stream"

            # a fresh client still hears a new event
            new: list[str] = []

            async def emit_one() -> None:
                new.extend(await _emit(db, 1))

            (event,) = await _next_events(http, 1, then=emit_one)
            assert event["data"]["id"] == new[0]

            # a healthy webhook is still delivered
            r = await http.post(
                "/api/v1/webhooks",
                json={"url": "http://127.0.0.1:1/x", "events": ["catalog.changed"]},
                headers=AUTH,
            )
            assert r.status_code == 201, r.text
            rec = Receiver(r.json()["secret"], tmp_path / "r.jsonl")
            receivers.append(rec)
            rec.start()  # its URL is the port it got
            await _repoint(db, r.json()["id"], rec.url)
            ids = await _emit(db, 1)
            await _wait(lambda: rec.delivered_ids() == ids, 30, "the webhook delivery")

        # SIGTERM stops it promptly
        rep.proc.send_signal(signal.SIGTERM)
        try:
            rep.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail("the orchestrator did not stop within 15 s of SIGTERM")
    finally:
        rep.stop()
    text = rep.log.read_text()
    assert "Traceback" not in text and "Lock is not acquired" not in text, text[-3000:]


async def _repoint(db: Database, endpoint_id: int, url: str) -> None:
    """Point an endpoint at its receiver (whose port is known only once it has a secret)."""

    async def fn(tx: Any) -> None:
        await tx.execute_raw(
            "UPDATE webhook_endpoints SET url = %s WHERE id = %s", (url, endpoint_id)
        )

    await db.run("test_point", fn)


async def test_each_failed_delivery_is_logged_once_without_a_traceback(
    db_url: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    rep = _start(
        db_url,
        tmp_path,
        AIRTRACK_WEBHOOK_BACKOFF_BASE_S="0.05",
        AIRTRACK_WEBHOOK_BACKOFF_MAX_S="0.2",
        AIRTRACK_EVENTS_POLL_S="0.1",
    )
    try:
        async with (
            Database(db_url, load_settings(home=tmp_path / "h"), min_size=0, max_size=2) as db,
            httpx.AsyncClient(base_url=rep.url, timeout=30) as http,
        ):
            r = await http.post(
                "/api/v1/webhooks",
                json={"url": "http://127.0.0.1:1/x", "events": ["catalog.changed"]},
                headers=AUTH,
            )
            assert r.status_code == 201, r.text
            ep = r.json()
            rec = Receiver(ep["secret"], tmp_path / "r.jsonl", "--fail-first", "4")
            receivers.append(rec)
            rec.start()  # its URL is the port it got
            await _repoint(db, ep["id"], rec.url)
            await _wait(lambda: _listening(rec), 10, "the receiver")
            ids = await _emit(db, 1)
            await _wait(lambda: rec.delivered_ids() == ids, 60, "delivery after 4 failures")

            async def listed_delivered() -> Any:  # the receiver logs an event before it answers
                (row,) = (await http.get("/api/v1/webhooks", headers=AUTH)).json()
                return row if row["delivered"] == 1 else None

            listed = await until_async(listed_delivered, 30, "the delivery recorded")
            assert listed["failures"] == 4 and listed["delivered"] == 1
            assert listed["last_error"] is None, "cleared by the success"
    finally:
        rep.stop()
    failed = [e for e in _log_lines(rep) if e.get("event") == "webhook.failed"]
    assert len(failed) == 4, failed
    assert all(e["event_id"] == ids[0] and e["error"] == "HTTP 500" for e in failed)
    assert [r["status"] for r in rec.records()] == [500, 500, 500, 500, 200]
    assert "Traceback" not in rep.log.read_text()


async def test_hostile_webhook_urls_resume_points_and_the_cap(
    db_url: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    rep = _start(db_url, tmp_path, AIRTRACK_WEBHOOK_ENDPOINTS_MAX="2")
    try:
        async with (
            Database(db_url, load_settings(home=tmp_path / "h"), min_size=0, max_size=2) as db,
            httpx.AsyncClient(base_url=rep.url, timeout=30) as http,
        ):
            await _urls_cap_and_test_route(http, db, tmp_path, receivers)
            await _resume_points(http, db)
    finally:
        rep.stop()
    assert "Traceback" not in rep.log.read_text()


async def _urls_cap_and_test_route(
    http: httpx.AsyncClient, db: Database, tmp_path: Path, receivers: list[Receiver]
) -> None:
    for url in (
        "http://[::1",
        "http://127.0.0.1:99999/",
        "http://user:pass@127.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0:8080/",
        "http://[::]:8080/",
        "http://10.0.0.1/",  # outside the test orchestrator's loopback-only allow-list
        "gopher://127.0.0.1/",
    ):
        r = await http.post("/api/v1/webhooks", json={"url": url}, headers=AUTH)
        assert r.status_code == 422, (url, r.status_code, r.text)
    assert (await http.get("/api/v1/webhooks", headers=AUTH)).json() == []

    r = await http.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:1/x"}, headers=AUTH)
    ep = r.json()
    rec = Receiver(ep["secret"], tmp_path / "t.jsonl", "--fail-first", "1")
    receivers.append(rec)
    rec.start()  # its URL is the port it got
    await _repoint(db, ep["id"], rec.url)
    await _wait(lambda: _listening(rec), 10, "the receiver")
    # the test route says only whether it was taken: no status, no error class
    failed = await http.post(f"/api/v1/webhooks/{ep['id']}/test", headers=AUTH)
    assert failed.json() == {"id": ep["id"], "ok": False}, failed.text
    took = await http.post(f"/api/v1/webhooks/{ep['id']}/test", headers=AUTH)
    assert took.json() == {"id": ep["id"], "ok": True}, took.text
    closed = await http.post("/api/v1/webhooks", json={"url": "http://[::1]:1/x"}, headers=AUTH)
    assert closed.status_code == 201
    refused = await http.post(f"/api/v1/webhooks/{closed.json()['id']}/test", headers=AUTH)
    assert refused.json() == {"id": closed.json()["id"], "ok": False}
    capped = await http.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:2/"}, headers=AUTH)
    assert capped.status_code == 409 and "AIRTRACK_WEBHOOK_ENDPOINTS_MAX" in capped.text
    assert (
        await http.post("/api/v1/webhooks/99999999999999999999/test", headers=AUTH)
    ).status_code == 422
    assert (
        await http.delete("/api/v1/webhooks/99999999999999999999", headers=AUTH)
    ).status_code == 422
    for e in (ep, closed.json()):
        assert (await http.delete(f"/api/v1/webhooks/{e['id']}", headers=AUTH)).status_code == 200


def _listening(rec: Receiver) -> bool:
    try:
        httpx.get(rec.url.replace("/hook", "/"), timeout=1)
    except httpx.HTTPError:
        return False
    return True


async def _resume_points(http: httpx.AsyncClient, db: Database) -> None:
    old = await _emit(db, 3)
    assert old
    for junk in (b"\xb2", b"1.5", b"-1", b"0x10", b"+7", b"1e3", b"abc", b"1_000"):
        r = await http.get("/api/v1/events", headers={**AUTH, "Last-Event-ID": junk})  # type: ignore[dict-item]
        assert r.status_code == 422, (junk, r.status_code, r.text)
    for junk_after in ("²", "١٢", "1.5", "-1", "9" * 41):
        r = await http.get("/api/v1/events", params={"after": junk_after}, headers=AUTH)
        assert r.status_code == 422, (junk_after, r.status_code, r.text)
    for far in ("9223372036854775807", "99999999999999999999"):
        for how in ("header", "query"):
            new: list[str] = []

            async def emit_two(new: list[str] = new) -> None:
                new.extend(await _emit(db, 2))

            got = await _next_events(
                http,
                2,
                headers={"Last-Event-ID": far} if how == "header" else None,
                params={"after": far} if how == "query" else None,
                then=emit_two,
            )
            assert [e["data"]["id"] for e in got] == new, (far, how, "new events only")
