"""Plays recorded per second through the real HTTP API, in batches of 50.

Simulated workers that own their streams (registered and heartbeated until their
assignments settled) POST /api/v1/plays with 50 plays per request, as a worker
flushing its outbox does. Each play is a distinct airing (its own key, track and
time), so every item goes the full way: fence against the epoch, idempotency
check, continuation lookup, insert. The loops are bounded both by a batch count
and by a deadline, and talk to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

BATCH = 50
TRACKS = 200
SONG_S = 180


@dataclass
class PlaysResult:
    batches: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    codes: Counter[int] = field(default_factory=Counter)

    @property
    def plays_per_s(self) -> float:
        return self.batches * BATCH / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        errors = sum(n for c, n in self.codes.items() if c != 200)
        stored = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{self.plays_per_s:.0f} plays/s ({self.batches} batches)  "
            f"p50 {statistics.median(self.latencies_ms):.1f}ms  "
            f"p99 {self.percentile(0.99):.1f}ms  non-200 {errors}  [{stored}]"
        )


def ownership(bodies: dict[str, str]) -> dict[str, dict[int, int]]:
    """Each simulated worker's streams and epochs, from its settled heartbeat body."""
    return {
        wid: {s["stream_id"]: s["epoch"] for s in json.loads(body)["streams"]}
        for wid, body in bodies.items()
    }


#: Plays start well in the past but within the orchestrator's bounds (play_max_age_s).
_BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)


def _batch(streams: dict[int, int], tracks: list[int], serial: int) -> dict[str, object]:
    # Every play starts a song length after the previous one on its stream, so none is
    # a continuation of another: each batch is 50 new rows, the worst case for the store.
    base = _BASE
    sids = sorted(streams)
    plays = []
    for i in range(BATCH):
        n = serial * BATCH + i
        sid = sids[n % len(sids)]
        start = base + timedelta(seconds=(n // len(sids)) * (SONG_S + 20))
        plays.append(
            {
                "key": uuid.uuid4().hex,
                "stream_id": sid,
                "epoch": streams[sid],
                "track_id": tracks[n % len(tracks)],
                "started_at": start.isoformat(),
                "ended_at": (start + timedelta(seconds=SONG_S)).isoformat(),
                "confidence": 0.9,
            }
        )
    return {"plays": plays}


async def run_plays(
    url: str,
    token: str,
    owned: dict[str, dict[int, int]],
    tracks: list[int],
    connections: int,
    seconds: float,
    max_batches: int,
) -> PlaysResult:
    """``connections`` concurrent senders, each a worker posting its own streams' plays."""
    result = PlaysResult()
    auth = {"Authorization": f"Bearer {token}"}
    senders = [w for w in sorted(owned) if owned[w]][:connections]
    if not senders:
        raise RuntimeError("no simulated worker owns a stream: cannot measure plays")
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    serials = iter(range(max_batches))
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        deadline = time.monotonic() + seconds

        async def sender(wid: str) -> None:
            # One shared serial counter: no two batches describe the same airings.
            for serial in serials:
                if time.monotonic() >= deadline:
                    return
                body = {"worker_id": wid, **_batch(owned[wid], tracks, serial)}
                t0 = time.perf_counter()
                r = await client.post("/api/v1/plays", headers=auth, json=body)
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                result.codes[r.status_code] += 1
                result.batches += 1
                if r.status_code in (200, 409):
                    result.statuses.update(x["status"] for x in r.json()["results"])

        t0 = time.monotonic()
        await asyncio.gather(*(sender(w) for w in senders))
        result.seconds = time.monotonic() - t0
    return result
