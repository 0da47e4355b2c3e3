"""Listener figures: the leader polls stats URLs (a real control loop, a real local stats
server), stats URLs obey the stream URL policy and never show their credentials, and
the listener figure of a play comes from the samples over it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from airtrack.orchestrator.control import ControlLoop

from .listeners_support import closed_port, stats_server
from .orch_support import fast_settings, orchestrator

SECRET = "hackme-7f3a"


async def wait_for(what: str, ok: Callable[[], bool], deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while not ok():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def run_control(control: ControlLoop, rounds: int) -> None:
    """Run the real control loop (leader election, ticks) until ``rounds`` polls are done."""
    stop = asyncio.Event()
    task = asyncio.create_task(control.run(stop))
    try:
        await wait_for(f"{rounds} listener rounds", lambda: control.listeners.rounds >= rounds)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def listener_settings(home: Path, **kw: Any) -> Any:
    return fast_settings(
        home,
        listeners_poll_s=0.2,
        listeners_timeout_s=0.5,
        listeners_max_bytes=4096,
        **kw,
    )


async def test_leader_polls_and_a_bad_endpoint_costs_one_bounded_request(
    db_url: str, tmp_path: Path
) -> None:
    with stats_server() as server:
        server.count = 12
        down = f"http://127.0.0.1:{closed_port()}/status-json.xsl"
        good = server.url("/status-json.xsl").replace("//", f"//admin:{SECRET}@", 1)
        stats = {
            "good": good,
            "slow": server.url("/slow"),
            "huge": server.url("/huge"),
            "declared": server.url("/huge-declared"),
            "malformed": server.url("/malformed"),
            "missing": server.url("/nope"),
            "down": down,
        }
        async with orchestrator(db_url, listener_settings(tmp_path)) as orch:
            # logs captured from the first stream on: a poll may start before the rounds
            with capture_logs() as events:
                for name, url in stats.items():
                    body = {"name": name, "url": f"http://127.0.0.1:9/{name}", "stats_url": url}
                    if name == "good":
                        body["url"] = "http://127.0.0.1:9/live"  # the counted source's mount
                    r = await orch.admin("POST", "/streams", json=body)
                    assert r.status_code == 201, r.text
                await run_control(orch.control, 3)
            rounds = orch.control.listeners.rounds
            last = {o.target.name: o for o in orch.control.listeners.last}
            assert {n: o.kind for n, o in last.items()} == {
                "good": "ok",
                "slow": "timeout",
                "huge": "too_large",
                "declared": "too_large",
                "malformed": "malformed",
                "missing": "http_status",
                "down": "unreachable",
            }
            assert last["good"].listeners == 12  # the /live source, not /other's 99
            # the slow endpoint did not hold the others up: they finished before it gave up
            assert all(o.at < last["slow"].at for n, o in last.items() if n != "slow")
            # one request per poll, whatever the endpoint does
            for path in ("/slow", "/huge", "/huge-declared", "/malformed", "/nope"):
                assert rounds <= server.hits[path] <= rounds + 1, (path, server.hits)
            samples = await orch.db.fetch(
                "listeners_samples",
                {
                    "id": last["good"].target.id,
                    "t0": datetime.now(UTC) - timedelta(hours=1),
                    "t1": datetime.now(UTC) + timedelta(hours=1),
                },
            )
            assert len(samples) >= rounds and {s["listeners"] for s in samples} == {12}
            metrics = (await orch.http.get("/metrics")).text
            assert 'airtrack_stream_listeners{stream="good"} 12.0' in metrics
            assert 'airtrack_stream_listeners{stream="slow"}' not in metrics
            listed = {s["name"]: s for s in (await orch.admin("GET", "/streams")).json()}
            assert listed["good"]["stats_url"] == good.replace(f"admin:{SECRET}@", "***@")

    # logged once per state change: one line per stream over every round
    changes = [e for e in events if e["event"] in ("listeners.ok", "listeners.failed")]
    assert sorted(e["stream"] for e in changes) == sorted(stats), changes
    assert {e["kind"] for e in changes if e["event"] == "listeners.failed"} == {
        "timeout",
        "too_large",
        "malformed",
        "http_status",
        "unreachable",
    }
    assert SECRET not in repr(events)


async def test_stats_url_follows_the_stream_url_policy_and_stays_masked(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        secret_url = f"http://admin:{SECRET}@127.0.0.1:8000/admin/stats?pass={SECRET}&sid=1"
        r = await orch.admin(
            "POST",
            "/streams",
            json={"name": "one", "url": "http://127.0.0.1:9/one", "stats_url": secret_url},
        )
        assert r.status_code == 201, r.text
        assert SECRET not in r.text
        for bad in ("http://169.254.169.254/latest/meta-data", "http://metadata.google.internal/"):
            r = await orch.admin(
                "POST",
                "/streams",
                json={"name": "two", "url": "http://127.0.0.1:9/two", "stats_url": bad},
            )
            assert r.status_code == 422 and "stats URL refused" in r.text, r.text
            r = await orch.admin("PATCH", "/streams/one", json={"stats_url": bad})
            assert r.status_code == 422 and "stats URL refused" in r.text, r.text
        ftp = {"name": "x", "url": "http://127.0.0.1:9/x", "stats_url": "ftp://127.0.0.1/"}
        r = await orch.admin("POST", "/streams", json=ftp)
        assert r.status_code == 422, r.text

        new = f"http://admin:{SECRET}@127.0.0.1:8001/status-json.xsl"
        r = await orch.admin("PATCH", "/streams/one", json={"stats_url": new})
        assert r.status_code == 200, r.text
        assert SECRET not in r.text and "//***@127.0.0.1:8001" in r.text
        csv = f"name,url,stats_url\nthree,http://127.0.0.1:9/three,{new}\n".encode()
        r = await orch.admin("POST", "/streams/import", content=csv, params={"format": "csv"})
        assert r.status_code == 200 and SECRET not in r.text, r.text
        bad_csv = b"name,url,stats_url\nfour,http://127.0.0.1:9/four,http://169.254.1.1/\n"
        r = await orch.admin("POST", "/streams/import", content=bad_csv, params={"format": "csv"})
        assert r.status_code == 422 and "stats URL refused" in r.text, r.text

        listed = (await orch.admin("GET", "/streams")).json()
        assert SECRET not in repr(listed)
        kept = {r["name"]: r["stats_url"] for r in await orch.db.fetch("listeners_targets")}
        assert kept == {"one": new, "three": new}  # the store keeps what the poll needs
        r = await orch.admin("PATCH", "/streams/one", json={"stats_url": None})
        assert r.status_code == 200, r.text
        kept = {r["name"] for r in await orch.db.fetch("listeners_targets")}
        assert kept == {"three"}


async def test_a_plays_listeners_are_the_time_weighted_samples_over_it(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        t0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
        await orch.db.execute(
            "listeners_insert",
            {
                "ids": [sid] * 3,
                "ats": [t0, t0 + timedelta(seconds=60), t0 + timedelta(seconds=120)],
                "counts": [10, 20, 0],
            },
        )

        async def figure(a: float, b: float) -> tuple[Any, Any]:
            async def fn(tx: Any) -> list[Any]:
                rows: list[Any] = await tx.execute_raw(
                    "SELECT mean, listener_s FROM airtrack_play_listeners(%s, %s, %s, 150, true)",
                    (sid, t0 + timedelta(seconds=a), t0 + timedelta(seconds=b)),
                )
                return rows

            rows = await orch.db.run("test_play_listeners", fn)
            return rows[0]["mean"], rows[0]["listener_s"]

        assert await figure(30, 90) == (15.0, 900.0)  # 30 s at 10, 30 s at 20
        # 20 s at 20, then 0 held for 150 s; the rest has no sample and does not count
        mean, listener_s = await figure(100, 400)
        assert listener_s == 400.0 and abs(mean - 400 / 170) < 1e-9
        assert await figure(30, 30) == (10.0, 0.0)  # no length: the sample in force
        assert await figure(-1000, -900) == (None, 0.0)  # no sample: no figure
