"""The integrations API over real HTTP (an orchestrator process): webhooks CRUD and
test, the SSE event stream with Last-Event-ID resume; alerts and catalog bumps emit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from airtrack.db import Database
from airtrack.ops.alerts import raise_alert, resolve_alert
from airtrack.settings import load_settings
from tests.support.wait import until_async

from .orch_support import ADMIN, WORKER
from .test_orchestrator_replicas import Replica
from .test_webhooks import Receiver, _emit, _point

AUTH = {"Authorization": f"Bearer {ADMIN}"}


async def _sse(
    client: httpx.AsyncClient, n: int, params: dict[str, str], headers: dict[str, str]
) -> list[dict[str, Any]]:
    """Read ``n`` events from the stream: each as {id, event, data}."""
    got: list[dict[str, Any]] = []
    cur: dict[str, Any] = {}
    async with client.stream(
        "GET", "/api/v1/events", params=params, headers={**AUTH, **headers}
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.aiter_lines():
            if not line:
                if "data" in cur:
                    got.append(cur)
                cur = {}
                if len(got) == n:
                    break
                continue
            key, _, value = line.partition(":")
            cur[key] = value.lstrip()
    for e in got:
        e["data"] = json.loads(e["data"])
    return got


async def test_event_stream_serves_events_and_resumes_after_last_event_id(
    replica: Replica, db_url: str, tmp_path: Path
) -> None:
    async with (
        Database(db_url, load_settings(home=tmp_path / "h"), min_size=0, max_size=2) as db,
        httpx.AsyncClient(base_url=replica.url, timeout=30) as client,
    ):
        ids = await _emit(db, 5)
        first = await _sse(client, 5, {"after": "0", "types": "catalog.changed"}, {})
        assert [e["data"]["id"] for e in first] == ids
        assert all(e["event"] == "catalog.changed" for e in first)
        assert [e["data"]["data"]["n"] for e in first] == [1, 2, 3, 4, 5]
        resumed = await _sse(
            client, 2, {"types": "catalog.changed"}, {"Last-Event-ID": first[2]["id"]}
        )
        assert [e["data"]["id"] for e in resumed] == ids[3:]
        bad = await client.get("/api/v1/events", params={"types": "nope"}, headers=AUTH)
        assert bad.status_code == 422
        unauth = await client.get("/api/v1/events")
        assert unauth.status_code == 401
        worker = await client.get("/api/v1/events", headers={"Authorization": "Bearer " + WORKER})
        assert worker.status_code == 403


async def test_webhooks_api_add_list_test_remove(
    replica: Replica, tmp_path: Path, db_url: str
) -> None:
    async with httpx.AsyncClient(base_url=replica.url, timeout=30) as client:
        bad = await client.post(
            "/api/v1/webhooks",
            json={"url": "http://127.0.0.1:1/x", "events": ["nope"]},
            headers=AUTH,
        )
        assert bad.status_code == 422
        r = await client.post(
            "/api/v1/webhooks",
            json={"url": "http://127.0.0.1:1/x", "events": ["play.started"]},
            headers=AUTH,
        )
        assert r.status_code == 201, r.text
        ep = r.json()
        assert ep["secret"].startswith("whsec_") and ep["events"] == ["play.started"]
        # the answer names the fields as the request does (events, streams), POST and GET
        assert ep["streams"] == [] and "event_types" not in ep
        (listed,) = (await client.get("/api/v1/webhooks", headers=AUTH)).json()
        assert (listed["events"], listed["streams"]) == (["play.started"], [])
        assert "event_types" not in listed and "stream_ids" not in listed
        rec = Receiver(ep["secret"], tmp_path / "r.jsonl")
        try:
            rec.start()  # binds port 0: its URL has the port it got
            async with Database(db_url, load_settings(home=tmp_path / "h"), max_size=1) as db:
                await _point(db, ep["id"], rec.url)
            await until_async(lambda: _listening(rec), 10, "the receiver")
            t = await client.post(f"/api/v1/webhooks/{ep['id']}/test", headers=AUTH)
            assert t.json()["ok"] is True, t.text
            (got,) = rec.records()
            assert got["type"] == "webhook.test" and got["data"] == {"endpoint_id": ep["id"]}
        finally:
            rec.kill()
        (listed,) = (await client.get("/api/v1/webhooks", headers=AUTH)).json()
        assert listed["id"] == ep["id"] and "secret" not in listed
        assert listed["queued"] == 0 and listed["delivered"] == 0
        assert (
            await client.delete(f"/api/v1/webhooks/{ep['id']}", headers=AUTH)
        ).status_code == 200
        assert (
            await client.delete(f"/api/v1/webhooks/{ep['id']}", headers=AUTH)
        ).status_code == 404
        assert (await client.get("/api/v1/webhooks", headers=AUTH)).json() == []


def _listening(rec: Receiver) -> bool:
    try:
        httpx.get(rec.url.replace("/hook", "/"), timeout=1)
    except httpx.HTTPError:
        return False
    return True


async def test_alerts_and_catalog_changes_emit_in_their_transaction(db: Database) -> None:
    await raise_alert(db, "warning", "worker.silent", "w1", "silent")
    await raise_alert(db, "warning", "worker.silent", "w1", "still silent")  # no new event
    await raise_alert(db, "critical", "worker.silent", "w1", "gone")  # escalated: event
    await resolve_alert(db, "worker.silent", "w1")
    await resolve_alert(db, "worker.silent", "w1")  # nothing open: no event
    rev = await db.fetchval("catalog_bump_revision", idempotent=False)

    async def fn(tx: Any) -> list[dict[str, Any]]:
        return await tx.execute_raw("SELECT type, data FROM outbound_events ORDER BY id")

    events = await db.run("test_events", fn)
    assert [(e["type"], e["data"].get("severity")) for e in events] == [
        ("alert.raised", "warning"),
        ("alert.raised", "critical"),
        ("alert.resolved", "critical"),
        ("catalog.changed", None),
    ]
    assert events[0]["data"]["subject"] == "w1" and events[3]["data"]["revision"] == rev
