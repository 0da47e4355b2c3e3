"""R4.2, R4.3, R4.4 with a real orchestrator and PostgreSQL: alerts, recovery mode, patterns."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from airtrack.ops.signatures import signature

from .ops_support import ops_orchestrator
from .orch_support import SimWorker, fast_settings, settle


async def test_six_failed_heartbeats_raise_one_critical_alert(db_url: str, tmp_path: Path) -> None:
    async with ops_orchestrator(db_url, fast_settings(tmp_path)) as orch:
        for _ in range(5):
            assert (await orch.ghost_heartbeat("ghost")).status_code == 404
            await orch.ops.step()
        assert await orch.alerts() == [], "five failures are not yet an alert (R4.2: > 5)"
        assert (await orch.ghost_heartbeat("ghost")).status_code == 404
        await orch.ops.step()
        alerts = await orch.alerts()
        assert len(alerts) == 1
        alert = alerts[0]
        assert (alert["severity"], alert["kind"], alert["subject"]) == (
            "critical",
            "peer.failures",
            "worker:ghost",
        )
        assert alert["count"] == 1 and "6 consecutive" in alert["message"]
        # more failures grow the open alert instead of adding rows
        for _ in range(3):
            await orch.ghost_heartbeat("ghost")
        await orch.ops.step()
        alerts = await orch.alerts()
        assert len(alerts) == 1 and alerts[0]["count"] == 4
        assert alerts[0]["last_seen"] > alert["last_seen"]
        # the peer recovers: the alert is resolved
        await SimWorker(orch, "ghost", 5).register()
        await orch.ops.step()
        assert await orch.alerts() == []
        closed = await orch.alerts(all=True)
        assert len(closed) == 1 and closed[0]["resolved_at"] is not None
        with psycopg.connect(db_url) as conn:
            n = conn.execute(
                "SELECT count(*) FROM audit_log "
                "WHERE kind = 'comm.failure' AND subject = 'worker:ghost'"
            ).fetchone()
        assert n is not None and n[0] == 9, "every failure is persisted as an event"


async def test_missed_heartbeats_count_once_per_interval(db_url: str, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, inactive_after_s=30.0, recovery_failures_per_min=100)
    async with ops_orchestrator(db_url, settings) as orch:
        w = SimWorker(orch, "quiet", 5)
        await w.register()
        t0 = time.monotonic()
        # many steps per interval: each missed interval still counts once
        while time.monotonic() - t0 < 2.0:
            await orch.ops.step()
            await asyncio.sleep(0.05)
        counted = orch.ops.ledger.consecutive.get("worker:quiet", 0)
        silent = time.monotonic() - t0
        assert 2 <= counted <= int((silent - 0.25) / 0.5) + 1, counted
        assert await orch.alerts() == []
        while orch.ops.ledger.consecutive.get("worker:quiet", 0) <= 5:
            assert time.monotonic() - t0 < 6, "the sixth missed interval must come"
            await orch.ops.step()
            await asyncio.sleep(0.05)
        await orch.ops.step()
        alerts = await orch.alerts()
        assert [a["subject"] for a in alerts] == ["worker:quiet"]
        assert "heartbeat.missed" in alerts[0]["message"]
        # the worker is suspect by now; it comes back with a heartbeat
        assert (await w.heartbeat()).status_code == 200
        await orch.ops.step()
        assert await orch.alerts() == []


async def test_eleven_failures_in_a_minute_turn_recovery_mode_on_then_off(
    db_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(tmp_path, recovery_quiet_s=1.5, recovery_lease_factor=3.0)
    async with ops_orchestrator(db_url, settings) as orch:
        await orch.add_streams(2)
        good = SimWorker(orch, "good", 5)
        await good.register()
        await settle(orch, [good])
        base_lease = orch.control.lease_s()
        for i in range(10):  # distinct peers: no peer alert, only the window
            await orch.ghost_heartbeat(f"ghost{i}")
        await orch.ops.step()
        assert not orch.ops.recovery(), "ten failures per minute are allowed (R4.3: > 10)"
        await orch.ghost_heartbeat("ghost10")
        await orch.ops.step()
        assert orch.ops.recovery()
        r = await good.heartbeat()
        assert r.json()["recovery_mode"] is True, "workers are told in heartbeat replies"
        assert orch.control.lease_s() == pytest.approx(base_lease * 3.0)
        alerts = await orch.alerts()
        assert [a["kind"] for a in alerts] == ["recovery_mode"]
        with psycopg.connect(db_url) as conn:
            row = conn.execute("SELECT value FROM control_state WHERE key = 'recovery'").fetchone()
        assert row is not None and row[0]["on"] is True
        # voluntary rebalancing is suspended: a new worker gets nothing voluntarily
        newcomer = SimWorker(orch, "newcomer", 5)
        await newcomer.register()
        report = await orch.control.tick()
        assert report.moves == []
        # quiet: it ends by itself and says so
        t0 = time.monotonic()
        while orch.ops.recovery():
            assert time.monotonic() - t0 < 5
            await good.heartbeat()
            await newcomer.heartbeat()  # a silent worker would be failures too
            await orch.ops.step()
            await asyncio.sleep(0.1)
        assert time.monotonic() - t0 >= 1.0
        assert (await good.heartbeat()).json()["recovery_mode"] is False
        assert await orch.alerts() == []
        with psycopg.connect(db_url) as conn:
            kinds = [
                r[0]
                for r in conn.execute(
                    "SELECT kind FROM audit_log WHERE kind LIKE 'recovery.%' ORDER BY id"
                ).fetchall()
            ]
            value = conn.execute(
                "SELECT value FROM control_state WHERE key = 'recovery'"
            ).fetchone()
        assert kinds == ["recovery.on", "recovery.off"]
        assert value is not None and value[0]["on"] is False
        assert orch.control.lease_s() == pytest.approx(base_lease)


async def test_recovery_mode_survives_a_change_of_leader(db_url: str, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, recovery_quiet_s=60.0)
    async with ops_orchestrator(db_url, settings, replica_id="old") as old:
        for i in range(11):
            await old.ghost_heartbeat(f"g{i}")
        await old.ops.step()
        assert old.ops.recovery()
    is_leader = False
    async with ops_orchestrator(
        db_url, settings, leader=lambda: is_leader, replica_id="new"
    ) as new:
        await new.ops.step()
        assert new.ops.recovery(), "a follower reads the persisted state"
        w = SimWorker(new, "w", 2)
        await w.register()
        assert (await w.heartbeat()).json()["recovery_mode"] is True
        is_leader = True
        await new.ops.step()
        assert new.ops.recovery() and new.ops.ledger.recovery, "the new leader continues it"


class _Receiver:
    """A webhook receiver on 127.0.0.1: fails the first ``fail_first`` posts with HTTP 500."""

    def __init__(self, fail_first: int = 0, delay_s: float = 0.0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.attempts += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                if outer.attempts <= fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    with _Receiver(fail_first=2) as r:
        yield r


async def test_webhook_posts_alerts_with_retries(
    db_url: str, tmp_path: Path, receiver: _Receiver
) -> None:
    settings = fast_settings(tmp_path, alert_webhook=receiver.url)
    async with ops_orchestrator(db_url, settings) as orch:
        assert orch.ops.webhook is not None
        orch.ops.webhook.base_delay_s = 0.05
        orch.ops.webhook.start()
        for _ in range(6):
            await orch.ghost_heartbeat("flaky")
        await orch.ops.step()
        await SimWorker(orch, "flaky", 1).register()
        await orch.ops.step()
        t0 = time.monotonic()
        while len(receiver.bodies) < 2 and time.monotonic() - t0 < 5:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert [b["event"] for b in receiver.bodies] == ["alert.raised", "alert.resolved"]
    assert receiver.bodies[0]["alert"]["subject"] == "worker:flaky"
    assert receiver.bodies[0]["alert"]["severity"] == "critical"
    assert receiver.attempts == 4, "two refused posts were retried"


async def test_slow_webhook_never_blocks_the_step(db_url: str, tmp_path: Path) -> None:
    with _Receiver(delay_s=3.0) as slow:
        settings = fast_settings(tmp_path, alert_webhook=slow.url)
        async with ops_orchestrator(db_url, settings) as orch:
            assert orch.ops.webhook is not None
            orch.ops.webhook.start()
            for _ in range(6):
                await orch.ghost_heartbeat("slowpeer")
            t0 = time.monotonic()
            await orch.ops.step()
            assert time.monotonic() - t0 < 1.0
            assert len(await orch.alerts()) == 1
            for i in range(300):  # the queue is bounded: extra notifications are dropped
                orch.ops.webhook.submit({"event": "test", "n": i})
            assert orch.ops.webhook.queue.qsize() <= orch.ops.webhook.queue.maxsize
            assert orch.ops.webhook.dropped > 0


async def test_stream_errors_become_patterns(db_url: str, tmp_path: Path) -> None:
    async with ops_orchestrator(db_url, fast_settings(tmp_path)) as orch:
        await orch.add_streams(3)
        w = SimWorker(orch, "w", 5)
        await w.register()
        await settle(orch, [w])
        sids = sorted(w.running)

        async def report(errors: dict[int, str]) -> None:
            streams = [
                {
                    "stream_id": s,
                    "epoch": w.running[s],
                    "status": "retrying" if s in errors else "running",
                    **({"error": errors[s]} if s in errors else {}),
                }
                for s in sids
            ]
            r = await orch.worker_call(
                "POST", f"/workers/{w.id}/heartbeat", json={"streams": streams}, headers=w.auth
            )
            assert r.status_code == 200, r.text

        errors = {
            sids[0]: "HTTP 404 for http://10.1.2.3:8000/live.mp3",
            sids[1]: "HTTP 503 for http://radio.example:8080/a?x=1",
        }
        for _ in range(3):  # the same error repeated in each heartbeat counts once
            await report(errors)
        await report({sids[2]: "stalled: no data for 15.0 s"})
        await orch.ops.step()
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(
                "SELECT signature, source, count, sample FROM error_patterns ORDER BY count DESC"
            ).fetchall()
        by_sig = {r[0]: r for r in rows}
        http_sig = signature(errors[sids[0]])
        assert http_sig == "HTTP <n> for <url>"
        assert by_sig[http_sig][2] == 2 and by_sig[http_sig][1] == "stream"
        assert by_sig[http_sig][3] in errors.values()
        assert by_sig["stalled: no data for <n> s"][2] == 1
        r = await orch.admin("GET", "/diagnostics")
        top = r.json()["error_patterns"]
        assert top[0]["signature"] == http_sig and top[0]["count"] == 2
