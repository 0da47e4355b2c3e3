"""Webhook delivery: a verifying receiver process that is down, slow and failing; a
leader SIGKILL during delivery; a receiver that never recovers for one event.

Every event must arrive (signature verified with the standardwebhooks library), none
lost, duplicates carrying the same id, and in order of first arrival.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY

from airtrack.db import Database
from airtrack.db.listener import EventSignal
from airtrack.orchestrator import webhooks
from airtrack.orchestrator.delivery import WebhookDelivery, read_events
from airtrack.settings import Settings, load_settings
from tests.integration.test_orchestrator_replicas import leader_pid
from tests.support.orchestrator import Replica
from tests.support.processes import spawn
from tests.support.wait import until, until_async

RECEIVER = Path(__file__).with_name("webhook_receiver.py")
#: Webhooks in tests target local receivers only: loopback allowed, nothing else.
LOOPBACK_ONLY: dict[str, Any] = {
    "webhook_allow_private": True,
    "webhook_networks": "127.0.0.0/8,::1/128",
}


class Receiver:
    """The receiver process; ``records()`` reads what it logged. The first start binds
    port 0 and reads back the port it got; a restart comes back on that port."""

    def __init__(self, secret: str, log: Path, *flags: str) -> None:
        self.port = 0
        self.secret, self.log, self.flags = secret, log, flags
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        assert self.port, "start the receiver first: its port is the one it got"
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        port_file = Path(f"{self.log}.port")
        port_file.unlink(missing_ok=True)
        self.proc = spawn(
            [sys.executable, str(RECEIVER), str(self.port), self.secret, str(self.log), *self.flags]
        )
        proc = self.proc
        until(lambda: port_file.exists() or proc.poll() is not None, 30, "the receiver listens")
        assert proc.poll() is None, "the receiver exited"
        self.port = int(port_file.read_text())

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def delivered_ids(self) -> list[str]:
        return [r["id"] for r in self.records() if r.get("status") == 200]


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.kill()


async def _emit(db: Database, n: int, *, poison_at: int | None = None) -> list[str]:
    """Write ``n`` events through airtrack_emit; returns their event ids in order."""

    async def fn(tx: Any) -> list[str]:
        rows = await tx.execute_raw(
            "SELECT airtrack_emit('catalog.changed', NULL, jsonb_build_object("
            "'n', g, 'poison', g = %s)) FROM generate_series(1, %s) g",
            (poison_at or 0, n),
        )
        assert len(rows) == n
        got = await tx.execute_raw(
            "SELECT event_id FROM outbound_events ORDER BY id DESC LIMIT %s", (n,)
        )
        return [r["event_id"] for r in reversed(got)]

    return list(await db.run("test_emit", fn))


async def _wait(cond: Callable[[], bool], within_s: float, what: str) -> None:
    """Kept for tests written against it: :func:`tests.support.wait.until_async`."""
    await until_async(cond, within_s, what)


def _settings(tmp_path: Path, **kw: Any) -> Settings:
    base: dict[str, Any] = {
        "home": tmp_path / "home",
        "webhook_timeout_s": 1.0,
        "webhook_lease_s": 2.5,
        "webhook_backoff_base_s": 0.05,
        "webhook_backoff_max_s": 0.3,
        "events_poll_s": 0.2,
        **LOOPBACK_ONLY,
    }
    base.update(kw)
    return load_settings(**base)


@contextlib.asynccontextmanager
async def _delivering(db: Database, settings: Settings) -> Any:
    stop = asyncio.Event()
    delivery = WebhookDelivery(
        db, settings, EventSignal(settings.events_poll_s), replica_id="test:1", leads=lambda: True
    )
    task = asyncio.create_task(delivery.run(stop))
    try:
        yield delivery
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_slow_or_dead_receiver_does_not_delay_another(
    db_url: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    settings = _settings(tmp_path, webhook_timeout_s=20.0, webhook_lease_s=30.0)
    async with Database(db_url, settings, min_size=0, max_size=6) as db:
        fast_ep = await webhooks.add_endpoint(db, "http://127.0.0.1:1/x", [], [], settings)
        slow_ep = await webhooks.add_endpoint(db, "http://127.0.0.1:1/x", [], [], settings)
        dead = socket.socket()  # bound, never listening: every connection is refused
        dead.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}/gone"
        dead_ep = await webhooks.add_endpoint(db, dead_url, [], [], settings)
        fast = Receiver(fast_ep["secret"], tmp_path / "fast.jsonl")
        slow = Receiver(
            slow_ep["secret"], tmp_path / "slow.jsonl", "--slow-every", "1", "--slow-s", "10"
        )
        receivers.extend([fast, slow])
        for ep, rec in ((fast_ep, fast), (slow_ep, slow)):
            rec.start()
            await _point(db, ep["id"], rec.url)
        ids = await _emit(db, 10)
        try:
            async with _delivering(db, settings):
                await until_async(lambda: fast.delivered_ids() == ids, 60, "the fast receiver")
                assert len(slow.records()) <= 2, "the slow one is still on its first events"

                async def fast_settled() -> bool:  # the receiver logs an event before it answers
                    rows = {r["id"]: r for r in await webhooks.list_endpoints(db)}
                    return bool(rows[fast_ep["id"]]["delivered"] == 10)

                await until_async(fast_settled, 30, "the fast endpoint's deliveries recorded")
        finally:
            dead.close()
        listed = {r["id"]: r for r in await webhooks.list_endpoints(db)}
        assert listed[fast_ep["id"]]["queued"] == 0 and listed[fast_ep["id"]]["delivered"] == 10
        assert listed[dead_ep["id"]]["failures"] >= 1
        assert listed[dead_ep["id"]]["queued"] == 10 and listed[dead_ep["id"]]["delivered"] == 0
        assert "ConnectError" in listed[dead_ep["id"]]["last_error"]


async def _point(db: Database, endpoint_id: int, url: str) -> None:
    async def fn(tx: Any) -> None:
        await tx.execute_raw(
            "UPDATE webhook_endpoints SET url = %s WHERE id = %s", (url, endpoint_id)
        )

    await db.run("test_point", fn)


async def test_an_event_failing_past_the_retry_window_is_given_up_and_recorded(
    db_url: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    settings = _settings(tmp_path, webhook_retry_hours=1.0 / 3600)  # one second
    async with Database(db_url, settings, min_size=0, max_size=4) as db:
        ep = await webhooks.add_endpoint(db, "http://127.0.0.1:1/x", [], [], settings)
        rec = Receiver(ep["secret"], tmp_path / "r.jsonl", "--poison")
        receivers.append(rec)
        rec.start()
        await _point(db, ep["id"], rec.url)
        ids = await _emit(db, 3, poison_at=2)

        async def recorded() -> bool:  # the receiver logs an event before it answers
            (row,) = await webhooks.list_endpoints(db)
            return bool(row["given_up"] == 1 and row["delivered"] == 2)

        async with _delivering(db, settings):
            await until_async(lambda: rec.delivered_ids() == [ids[0], ids[2]], 30, "the give-up")
            await until_async(recorded, 30, "the give-up and the deliveries recorded")
        tries = [r for r in rec.records() if r["id"] == ids[1]]
        assert len(tries) >= 2 and all(r["status"] == 500 for r in tries)
        (row,) = await webhooks.list_endpoints(db)
        assert row["given_up"] == 1 and row["delivered"] == 2 and row["queued"] == 0

        async def fn(tx: Any) -> list[dict[str, Any]]:
            return await tx.execute_raw(
                "SELECT o.event_id, g.error FROM webhook_giveups g "
                "JOIN outbound_events o ON o.id = g.event_id"
            )

        (gave,) = await db.run("test_giveups", fn)
        assert gave["event_id"] == ids[1] and gave["error"] == "HTTP 500"


# The default tier runs the scenario at half size (every phase still holds several events,
# failures and timeouts); the slow tier at its full size.
@pytest.mark.parametrize(
    "per_phase",
    [pytest.param(30, id="30-events"), pytest.param(60, id="60-events", marks=pytest.mark.slow)],
)
async def test_every_event_arrives_through_outages_failures_and_a_leader_sigkill(
    db_url: str,
    tmp_path: Path,
    receivers: list[Receiver],
    monkeypatch: pytest.MonkeyPatch,
    per_phase: int,
) -> None:
    for key, value in {
        "AIRTRACK_WEBHOOK_TIMEOUT_S": "1",
        "AIRTRACK_WEBHOOK_LEASE_S": "2.5",
        "AIRTRACK_WEBHOOK_BACKOFF_BASE_S": "0.1",
        "AIRTRACK_WEBHOOK_BACKOFF_MAX_S": "0.5",
        "AIRTRACK_EVENTS_POLL_S": "0.2",
    }.items():
        monkeypatch.setenv(key, value)
    settings = _settings(tmp_path)
    async with Database(db_url, settings, min_size=0, max_size=4) as db:
        # only the test's events: the replicas may raise alerts of their own
        ep = await webhooks.add_endpoint(
            db, "http://127.0.0.1:1/x", ["catalog.changed"], [], settings
        )
        # fails its first 10 answers; every 9th answer is slower than the timeout (so the
        # orchestrator retries an event the receiver did take: a duplicate)
        rec = Receiver(
            ep["secret"],
            tmp_path / "r.jsonl",
            "--fail-first",
            "10",
            "--slow-every",
            "9",
            "--slow-s",
            "1.5",
        )
        receivers.append(rec)
        rec.start()  # for the port it gets; then down until the events are queued
        rec.kill()
        await _point(db, ep["id"], rec.url)
        reps = [Replica(db_url, tmp_path / f"h{i}", tmp_path / f"rep{i}.log") for i in range(2)]
        try:
            for r in reps:
                r.wait_ready()
            ids = await _emit(db, per_phase)  # the receiver is down
            await asyncio.sleep(2)
            assert rec.records() == []
            rec.start()
            ids += await _emit(db, per_phase)
            await until_async(
                lambda: len(set(rec.delivered_ids())) >= per_phase * 2 // 3, 60, "first deliveries"
            )
            rec.kill()  # down again, mid-stream
            ids += await _emit(db, per_phase * 2 // 3)
            await asyncio.sleep(1.5)
            rec.start()
            await until_async(
                lambda: len(set(rec.delivered_ids())) >= per_phase * 3 // 2, 60, "more deliveries"
            )
            pid = leader_pid(db_url)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # mid-delivery
            ids += await _emit(db, per_phase * 2 // 3)
            await until_async(lambda: set(rec.delivered_ids()) >= set(ids), 120, "every event")
        finally:
            for r in reps:
                r.stop()
        # a request cut short by the leader's SIGKILL was never a delivery (nothing to verify)
        records = [r for r in rec.records() if not r.get("truncated")]
        assert not [r for r in records if r.get("bad")], "every signature verifies"
        delivered = rec.delivered_ids()
        first_seen = list(dict.fromkeys(delivered))
        assert first_seen == ids, "all events, in order, none lost"
        by_id: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            by_id.setdefault(r["id"], []).append(r)
        dups = [v for v in by_id.values() if len(v) > 1]
        assert dups, "the failures and timeouts caused redeliveries"
        for copies in dups:
            assert len({json.dumps(c["data"], sort_keys=True) for c in copies}) == 1
            assert len({c["timestamp"] for c in copies}) == 1


async def test_an_event_whose_transaction_commits_late_is_not_skipped(
    db_url: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    # a long timeout: a starved receiver answering late would be delivered twice (at least
    # once is the contract), and the order is what this test is about
    settings = _settings(tmp_path, webhook_timeout_s=10.0, webhook_lease_s=15.0)
    async with Database(db_url, settings, min_size=0, max_size=4) as db:
        ep = await webhooks.add_endpoint(db, "http://127.0.0.1:1/x", [], [], settings)
        rec = Receiver(ep["secret"], tmp_path / "r.jsonl")
        receivers.append(rec)
        rec.start()
        await _point(db, ep["id"], rec.url)
        # a transaction takes its event id first but commits after a later one
        slow = await psycopg.AsyncConnection.connect(db_url)
        try:
            await slow.execute(
                "SELECT airtrack_emit('catalog.changed', NULL, '{\"n\": \"slow\"}'::jsonb)"
            )
            async with _delivering(db, settings):
                fast_ids = await _emit(db, 1)
                await asyncio.sleep(1.5)  # delivery runs meanwhile
                await slow.commit()
                await until_async(lambda: len(set(rec.delivered_ids())) >= 2, 20, "both events")
        finally:
            await slow.close()
        got = [r["data"]["n"] for r in rec.records() if r["status"] == 200]
        assert got == ["slow", 1], "in commit-safe order, the late one not skipped"
        assert rec.delivered_ids()[1] == fast_ids[0]


async def test_an_event_held_back_by_an_older_transaction_is_delivered_when_it_ends(
    db_url: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    # The poll is a minute: delivery within 30 s means something else woke it.
    # a long timeout, as above: a late answer's redelivery would look like an early one
    settings = _settings(
        tmp_path,
        events_poll_s=60.0,
        events_recheck_s=0.02,
        webhook_timeout_s=10.0,
        webhook_lease_s=15.0,
    )
    async with Database(db_url, settings, min_size=0, max_size=4) as db:
        ep = await webhooks.add_endpoint(db, "http://127.0.0.1:1/x", [], [], settings)
        rec = Receiver(ep["secret"], tmp_path / "r.jsonl")
        receivers.append(rec)
        rec.start()
        await _point(db, ep["id"], rec.url)
        stop = asyncio.Event()
        signal = EventSignal(settings.events_poll_s)
        listener = asyncio.create_task(signal.listen(db_url, stop, timeout_s=5))
        delivery = WebhookDelivery(db, settings, signal, replica_id="test:1", leads=lambda: True)
        task = asyncio.create_task(delivery.run(stop))
        older = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
        try:
            # The listener LISTENs and the dispatcher waits (it has read: nothing due).
            reads = _queries("webhook_due")
            await _until_db(older, _LISTENING)
            await _wait(lambda: _queries("webhook_due") > reads, 30, "the dispatcher's read")
            await asyncio.sleep(0.5)
            await _emit(db, 1)  # NOTIFY wakes delivery: the first event arrives
            await until_async(lambda: len(rec.delivered_ids()) == 1, 30, "the first event")
            # An older transaction with an id, writing no event, is still open when the
            # next event commits: the NOTIFY's read finds it held back.
            await older.set_autocommit(False)
            await older.execute("SELECT pg_current_xact_id()")
            ids = await _emit(db, 1)
            await asyncio.sleep(1.0)
            assert len(rec.delivered_ids()) == 1, "held back while the older one is open"
            await older.commit()  # no NOTIFY for this one
            await until_async(lambda: rec.delivered_ids()[-1:] == ids, 30, "the held-back event")
        finally:
            await older.close()
            stop.set()
            listener.cancel()  # it waits for NOTIFYs up to the (one minute) poll
            await asyncio.wait_for(asyncio.gather(task, listener, return_exceptions=True), 10)


async def test_an_open_transaction_in_another_database_holds_nothing_back(
    db_url: str, empty_db_url: str, tmp_path: Path
) -> None:
    """The server's other databases cannot write these events: a transaction left open
    there (a batch job, a forgotten psql) must not hold delivery back, while one open
    here still does (an event it wrote would sort before the later ones)."""
    settings = _settings(tmp_path)
    async with Database(db_url, settings, min_size=0, max_size=2) as db:

        async def readable() -> list[str]:
            rows, _ = await read_events(db, ("0", 0), types=[], stream_ids=[], limit=100)
            return [str(r["event_id"]) for r in rows]

        elsewhere = await psycopg.AsyncConnection.connect(empty_db_url)
        here = await psycopg.AsyncConnection.connect(db_url)
        try:
            await elsewhere.execute("SELECT pg_current_xact_id()")  # an id, left open
            ids = await _emit(db, 2)
            assert await readable() == ids, "held back by another database's transaction"
            await here.execute("SELECT pg_current_xact_id()")
            later = await _emit(db, 1)
            assert await readable() == ids, "an older transaction here must hold it back"
            await here.commit()
            assert await readable() == ids + later
        finally:
            await elsewhere.close()
            await here.close()


def _queries(name: str) -> float:
    """Transactions run under ``name`` in this process (the query metric's count)."""
    got = REGISTRY.get_sample_value("airtrack_db_query_seconds_count", {"query": name})
    return got or 0.0


_LISTENING = (
    "SELECT 1 FROM pg_stat_activity"
    " WHERE query = 'LISTEN airtrack_events' AND application_name = 'airtrack-events'"
)


async def _until_db(conn: psycopg.AsyncConnection[Any], query: str) -> None:
    for _ in range(300):
        if await (await conn.execute(query)).fetchone():  # type: ignore[arg-type]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never true: {query}")
