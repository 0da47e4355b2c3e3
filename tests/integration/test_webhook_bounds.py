"""What one receiver, or many endpoints, can cost webhook delivery: a trickling answer
(one deadline per request), a huge answer (a capped read), a name that resolves to a
refused address at delivery time, the endpoint cap, and the idle cost of many endpoints.
Real receiver processes on 127.0.0.1 and a real database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from airtrack.db import Database
from airtrack.errors import WebhookLimit
from airtrack.orchestrator import webhooks

from .test_webhooks import Receiver, _delivering, _emit, _point, _settings, _wait


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.kill()


def _transactions() -> dict[str, float]:
    """Transactions run in this process so far, by query name (the query metric)."""
    got: dict[str, float] = {}
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.name == "airtrack_db_query_seconds_count":
                got[s.labels["query"]] = s.value
    return got


async def test_a_trickling_receiver_fails_at_the_total_deadline(
    db_url: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    # one byte every 0.1 s: no single read waits anywhere near the 1-s deadline
    settings = _settings(tmp_path, webhook_timeout_s=1.0, webhook_lease_s=2.5)
    async with Database(db_url, settings, min_size=0, max_size=4) as db:
        ep = await webhooks.add_endpoint(db, "http://127.0.0.1:1/x", [], [], settings)
        rec = Receiver(ep["secret"], tmp_path / "r.jsonl", "--trickle-s", "0.1")
        receivers.append(rec)
        rec.start()  # its URL is the port it got
        await _point(db, ep["id"], rec.url)
        await _emit(db, 1)
        async with _delivering(db, settings):

            async def failed() -> bool:
                (row,) = await webhooks.list_endpoints(db)
                return bool(row["failures"])

            await _async_wait(failed, 20, "the first failure")
            await _wait(lambda: any(r.get("cut") for r in rec.records()), 20, "the cut")
        (row,) = await webhooks.list_endpoints(db)
        assert row["failures"] >= 1 and row["delivered"] == 0
        assert "deadline" in row["last_error"], row["last_error"]
        cut = next(r for r in rec.records() if "sent" in r)
        assert cut["cut"] and cut["sent"] < 100, "the orchestrator hung up at the deadline"


async def test_a_huge_answer_is_read_only_up_to_the_cap(
    db_url: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    settings = _settings(tmp_path, webhook_answer_max_bytes=4096)
    size = 64 * 1024 * 1024
    async with Database(db_url, settings, min_size=0, max_size=4) as db:
        ep = await webhooks.add_endpoint(db, "http://127.0.0.1:1/x", [], [], settings)
        rec = Receiver(ep["secret"], tmp_path / "r.jsonl", "--big-bytes", str(size))
        receivers.append(rec)
        rec.start()  # its URL is the port it got
        await _point(db, ep["id"], rec.url)
        await _emit(db, 1)
        with capture_logs() as logs:
            async with _delivering(db, settings):
                await _wait(lambda: any("sent" in r for r in rec.records()), 30, "an answer")
                await _wait(lambda: _failed(logs), 30, "the failure's log line")
        sent = next(r for r in rec.records() if "sent" in r)
        assert sent["cut"] and sent["sent"] < size // 2, "the orchestrator stopped reading"
        read = _failed(logs)[0]["answer_bytes"]
        assert 0 < read <= 4096 + 65536, read
        (row,) = await webhooks.list_endpoints(db)
        assert row["last_error"] == "HTTP 500" and row["failures"] >= 1


def _failed(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e.get("event") == "webhook.failed"]


async def test_a_name_resolving_to_a_refused_address_is_refused_at_delivery(
    db_url: str, tmp_path: Path, receivers: list[Receiver]
) -> None:
    """Accepted while loopback was allowed; refused when the delivery connects."""
    opened = _settings(tmp_path)
    closed = _settings(tmp_path, webhook_allow_private=False, webhook_networks="")
    async with Database(db_url, opened, min_size=0, max_size=4) as db:
        ep = await webhooks.add_endpoint(db, "http://localhost:1/hook", [], [], opened)
        rec = Receiver(ep["secret"], tmp_path / "r.jsonl")
        receivers.append(rec)
        rec.start()  # its URL is the port it got: the same name, pointed at it
        await _point(db, ep["id"], f"http://localhost:{rec.port}/hook")
        await _emit(db, 1)
        async with _delivering(db, closed):

            async def failed() -> bool:
                (row,) = await webhooks.list_endpoints(db)
                return bool(row["failures"])

            await _async_wait(failed, 20, "the refusal")
        (row,) = await webhooks.list_endpoints(db)
        assert "refused by the webhook URL policy" in row["last_error"], row["last_error"]
        assert rec.records() == [], "nothing was sent"
        assert (await webhooks.test_endpoint(db, ep["id"], closed)) == {"id": ep["id"], "ok": False}


async def test_the_endpoint_cap(db_url: str, tmp_path: Path) -> None:
    settings = _settings(tmp_path, webhook_endpoints_max=3)
    async with Database(db_url, settings, min_size=0, max_size=4) as db:
        for _ in range(3):
            await webhooks.add_endpoint(db, "http://127.0.0.1:9/x", [], [], settings)
        with pytest.raises(WebhookLimit, match="AIRTRACK_WEBHOOK_ENDPOINTS_MAX"):
            await webhooks.add_endpoint(db, "http://127.0.0.1:9/x", [], [], settings)
        assert len(await webhooks.list_endpoints(db)) == 3


async def test_idle_endpoints_cost_one_transaction_per_wake_up(db_url: str, tmp_path: Path) -> None:
    """Sixty idle endpoints cost the database what one costs: one read per wake-up."""
    settings = _settings(tmp_path, events_poll_s=0.05, webhook_endpoints_max=100)
    async with Database(db_url, settings, min_size=0, max_size=4) as db:
        for _ in range(60):
            await webhooks.add_endpoint(db, "http://127.0.0.1:9/x", [], [], settings)
        async with _delivering(db, settings):
            before = _transactions()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # ten wake-ups, or clearly more per wake-up
                moved = _moved(before)
                wakeups = moved.pop("webhook_due", 0)
                if wakeups >= 10 or sum(moved.values()) > 100:
                    break
                await asyncio.sleep(0.05)
        moved = _moved(before)
        wakeups = moved.pop("webhook_due", 0)
        moved.pop("events_prune", None)  # once, at the start
        assert sum(moved.values()) <= 2, f"idle endpoints ran {moved} in {wakeups} wake-ups"
        assert wakeups >= 10


def _moved(before: dict[str, float]) -> dict[str, float]:
    now = _transactions()
    return {q: n - before.get(q, 0) for q, n in now.items() if n - before.get(q, 0)}


async def _async_wait(cond: Callable[[], Awaitable[bool]], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_malformed_url_stored_earlier_fails_as_a_counted_failure(
    db_url: str, tmp_path: Path
) -> None:
    """A row from before the URL policy (or written by hand): counted, not a crash loop."""
    settings = _settings(tmp_path)
    async with Database(db_url, settings, min_size=0, max_size=4) as db:
        bad = {}
        for url in ("http://127.0.0.1:99999/", "http://[::1", "http://u:p@127.0.0.1:9/"):
            ep = await webhooks.add_endpoint(db, "http://127.0.0.1:9/x", [], [], settings)
            await _point(db, ep["id"], url)
            bad[ep["id"]] = url
        await _emit(db, 1)
        with capture_logs() as logs:
            async with _delivering(db, settings):

                async def all_failed() -> bool:
                    return all(r["failures"] for r in await webhooks.list_endpoints(db))

                await _async_wait(all_failed, 20, "a failure on each")
        for row in await webhooks.list_endpoints(db):
            assert "refused by the webhook URL policy" in row["last_error"], row
        assert not [e for e in logs if e.get("log_level") == "error" or "exc_info" in e]
