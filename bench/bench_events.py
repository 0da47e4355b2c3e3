"""Event benchmark: webhook latency under live load, and draining 10,000 queued events.

Run: .venv/bin/python bench/bench_events.py [--streams 100] [--seconds 60] [--queued 10000]
     [--poll-s 0.5]

Starts a private embedded PostgreSQL, a real `airtrack orchestrator` process and a
webhook receiver process on 127.0.0.1 that verifies every Standard Webhooks signature
(tests/integration/webhook_receiver.py), then measures:

1. latency — simulated workers own ``--streams`` streams and report each new play as a
   live worker does (one POST per detection, every stream a play every few seconds); for
   every ``play.started`` the receiver got: receipt − the worker's POST, and receipt −
   the play's ``recorded_at`` (median, p99);
2. outage — the receiver is down while ``--queued`` events are written; then it starts:
   time until its first delivery (the endpoint's backoff), drain time, events/s, lost
   and duplicated events.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airtrack.db.embedded import ensure_server  # noqa: E402
from airtrack.demo.cluster import free_port  # noqa: E402
from bench._plays import ownership  # noqa: E402
from bench.bench_orchestrator import ADMIN, WORKER, Orchestrator, setup_fleet  # noqa: E402

RECEIVER = ROOT / "tests" / "integration" / "webhook_receiver.py"
ADMIN_H = {"Authorization": f"Bearer {ADMIN}"}
WORKER_H = {"Authorization": f"Bearer {WORKER}"}


class Receiver:
    def __init__(self, secret: str, log: Path, port: int) -> None:
        self.log = log
        self.proc = subprocess.Popen([sys.executable, str(RECEIVER), str(port), secret, str(log)])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line being written
                out.append(json.loads(line))
        return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def add_hook(client: httpx.AsyncClient, url: str, events: list[str]) -> dict[str, Any]:
    r = await client.post("/api/v1/webhooks", headers=ADMIN_H, json={"url": url, "events": events})
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


async def delivering(client: httpx.AsyncClient, hook_id: int) -> None:
    """Wait until the endpoint is listed. The leader's dispatcher starts an endpoint's
    delivery on the first event due for it: there is no per-endpoint start-up to wait
    out before measuring."""
    for _ in range(600):
        r = await client.get("/api/v1/webhooks", headers=ADMIN_H)
        if any(h["id"] == hook_id for h in r.json()):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the endpoint was never listed")


async def heartbeats(
    client: httpx.AsyncClient, bodies: dict[str, str], stop: asyncio.Event
) -> None:
    """Keep the simulated workers alive (their streams stay owned)."""
    while not stop.is_set():
        for wid, body in bodies.items():
            await client.post(
                f"/api/v1/workers/{wid}/heartbeat",
                headers={**WORKER_H, "content-type": "application/json"},
                content=body,
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=3)


async def latency(
    orch: Orchestrator, db_url: str, home: Path, streams: int, seconds: float
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    bodies = await setup_fleet(orch.url, max(1, streams // 25), streams)
    owned = ownership(bodies)
    with psycopg.connect(db_url, autocommit=True) as conn:
        tracks = [
            r[0]
            for r in conn.execute(
                "INSERT INTO tracks (title, artist, source, duration_s, content_sha256) "
                "SELECT 'Bench ' || g, 'Bench', 'x.mp3', 180, md5(random()::text || g) "
                "FROM generate_series(1, 50) g RETURNING id"
            ).fetchall()
        ]
    port = free_port()
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as client:
        hook = await add_hook(client, f"http://127.0.0.1:{port}/hook", ["play.started"])
        rec = Receiver(hook["secret"], home / "latency.jsonl", port)
        await delivering(client, hook["id"])
        stop = asyncio.Event()
        beat = asyncio.create_task(heartbeats(client, bodies, stop))
        sent: dict[tuple[int, datetime], float] = {}
        period = 5.0  # each stream detects a new song every ~5 s

        async def station(wid: str, sid: int, epoch: int, offset: float) -> None:
            await asyncio.sleep(offset)
            end = time.monotonic() + seconds
            n = 0
            while time.monotonic() < end:
                started = datetime.now(UTC)
                play = {
                    "key": uuid.uuid4().hex,
                    "stream_id": sid,
                    "epoch": epoch,
                    "track_id": tracks[(sid + n) % len(tracks)],
                    "started_at": started.isoformat(),
                    "confidence": 0.9,
                }
                sent[(sid, started)] = time.time()
                r = await client.post(
                    "/api/v1/plays", headers=WORKER_H, json={"worker_id": wid, "plays": [play]}
                )
                r.raise_for_status()  # a refused play would only show as "0 delivered"
                n += 1
                await asyncio.sleep(period)

        tasks = [
            station(wid, sid, ep, (i % 50) * period / 50)
            for wid, m in owned.items()
            for i, (sid, ep) in enumerate(sorted(m.items()))
        ]
        await asyncio.gather(*tasks)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = {r["id"] for r in rec.records() if r.get("status") == 200}
            if len(got) >= len(sent):
                break
            await asyncio.sleep(0.5)
        stop.set()
        await beat
        rec.stop()
    recs = [r for r in rec.records() if r.get("status") == 200]
    first: dict[str, dict[str, Any]] = {}
    for r in recs:
        first.setdefault(r["id"], r)
    with psycopg.connect(db_url) as conn:
        recorded = dict(
            conn.execute("SELECT id, extract(epoch FROM recorded_at)::float8 FROM plays").fetchall()
        )
    from_post, from_rec = [], []
    for r in first.values():
        d = r["data"]
        key = (int(d["stream_id"]), datetime.fromisoformat(d["started_at"]))
        if key in sent:
            from_post.append(r["received_at"] - sent[key])
        from_rec.append(r["received_at"] - recorded[int(d["play_id"])])
    rows.append(
        (
            f"play.started latency, {streams} live streams, a play per stream every {period:.0f} s",
            f"worker POST → receiver: median {statistics.median(from_post) * 1000:.0f} ms, "
            f"p99 {pct(from_post, 0.99) * 1000:.0f} ms; recorded_at → receiver: median "
            f"{statistics.median(from_rec) * 1000:.0f} ms, p99 {pct(from_rec, 0.99) * 1000:.0f} ms "
            f"({len(first)} of {len(sent)} plays delivered)",
        )
    )
    return rows


async def outage(orch: Orchestrator, db_url: str, home: Path, queued: int) -> list[tuple[str, str]]:
    port = free_port()
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as client:
        hook = await add_hook(client, f"http://127.0.0.1:{port}/hook", ["catalog.changed"])
        t0 = time.monotonic()
        with psycopg.connect(db_url, autocommit=True) as conn:
            for start in range(0, queued, 1000):
                conn.execute(
                    "SELECT airtrack_emit('catalog.changed', NULL, jsonb_build_object('n', g)) "
                    "FROM generate_series(%s::int, %s::int) g",
                    (start + 1, min(queued, start + 1000)),
                )
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT event_id FROM outbound_events WHERE type = 'catalog.changed' "
                    "ORDER BY txid, id"
                ).fetchall()
            ]
        await asyncio.sleep(5)  # the receiver stays down a little longer: the endpoint backs off
        listed = {
            h["id"]: h for h in (await client.get("/api/v1/webhooks", headers=ADMIN_H)).json()
        }
        state = listed[hook["id"]]
        rec = Receiver(hook["secret"], home / "outage.jsonl", port)
        up = time.monotonic()
        first_at = None
        deadline = up + 900
        while time.monotonic() < deadline:
            recs = rec.records()
            if recs and first_at is None:
                first_at = min(r["received_at"] for r in recs)
            if len({r["id"] for r in recs if r.get("status") == 200}) >= len(ids):
                break
            await asyncio.sleep(0.5)
        recs = [r for r in rec.records() if r.get("status") == 200]
        rec.stop()
    got = [r["id"] for r in recs]
    first_seen = list(dict.fromkeys(got))
    start = min(r["received_at"] for r in recs)
    end = max(r["received_at"] for r in recs)
    outage_s = up - t0
    wall_up = time.time() - (time.monotonic() - up)
    return [
        (
            f"{queued:,} events queued during a {outage_s:.0f} s receiver outage",
            f"queued shown by `webhooks list`: {state['queued']:,}; failures before the "
            f"receiver came back: {state['failures']}",
        ),
        (
            "receiver back → first delivery (the endpoint's backoff)",
            f"{(first_at or wall_up) - wall_up:.1f} s",
        ),
        (
            "drain to one receiver (in order, one request per event)",
            f"{end - start:.1f} s, {len(first_seen) / max(end - start, 1e-9):.0f} events/s",
        ),
        (
            "lost / duplicated / out of order",
            f"{len(set(ids) - set(got))} / {len(got) - len(first_seen)} / "
            f"{'0' if first_seen == ids else 'some'}",
        ),
    ]


async def main(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="airtrack-bench-events-"))
    url = ensure_server(home)
    orch = Orchestrator(
        home,
        url,
        AIRTRACK_EVENTS_POLL_S=str(args.poll_s),
        # the receiver is on loopback: allowed for it alone
        AIRTRACK_WEBHOOK_ALLOW_PRIVATE="true",
        AIRTRACK_WEBHOOK_NETWORKS="127.0.0.0/8",
    )
    rows: list[tuple[str, str]] = []
    try:
        if args.streams:
            rows += await latency(orch, url, home, args.streams, args.seconds)
        if args.queued:
            rows += await outage(orch, url, home, args.queued)
    finally:
        orch.stop()
    print("| measure | result |")
    print("|---|---|")
    for m, r in rows:
        print(f"| {m} | {r} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--queued", type=int, default=10_000)
    # a long poll shows what waits for it (a wake-up that NOTIFY does not give)
    ap.add_argument("--poll-s", type=float, default=0.5, help="AIRTRACK_EVENTS_POLL_S")
    asyncio.run(main(ap.parse_args()))
