"""Alerts: one open row per (kind, subject), deduplicated, plus an optional webhook.

The webhook never blocks the caller: alerts go into a bounded queue that one
background task drains, POSTing JSON with retries and backoff. When the
queue is full the oldest notification is dropped (and logged), so a dead
receiver cannot make the orchestrator hold memory without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any, Literal

import httpx

from airtrack.db import Database, Row
from airtrack.logging import get_logger
from airtrack.metrics import ALERTS_RAISED, WEBHOOK_DELIVERIES
from airtrack.resilience import backoff_delay

log = get_logger("airtrack.ops.alerts")

Severity = Literal["info", "warning", "critical"]


def alert_json(row: Row) -> dict[str, Any]:
    """An alert row as JSON-safe data (ISO-8601 UTC times)."""
    out: dict[str, Any] = {}
    for key in (
        "id",
        "severity",
        "kind",
        "subject",
        "message",
        "first_seen",
        "last_seen",
        "count",
        "resolved_at",
    ):
        value = row.get(key)
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


async def raise_alert(
    db: Database, severity: Severity, kind: str, subject: str, message: str
) -> tuple[Row, bool]:
    """Open an alert, or bump the open one; returns (row, created)."""
    row = await db.fetchone(
        "ops_alert_raise",
        {"severity": severity, "kind": kind, "subject": subject, "message": message},
    )
    assert row is not None
    created = bool(row.pop("created"))
    if created:
        ALERTS_RAISED.labels(severity, kind).inc()
        log.warning("alert.raised", severity=severity, kind=kind, subject=subject, message=message)
    return row, created


async def resolve_alert(db: Database, kind: str, subject: str) -> Row | None:
    row = await db.fetchone("ops_alert_resolve", {"kind": kind, "subject": subject})
    if row is not None:
        log.info("alert.resolved", kind=kind, subject=subject, count=row["count"])
    return row


#: The alert for catalog tracks left out of the index (docs/troubleshooting.md).
UNUSABLE_PRINTS = "catalog_prints_unusable"


async def unusable_prints(db: Database, tracks: list[tuple[int, str]], whole: bool) -> None:
    """Open (or bump) one alert naming the tracks a catalog build left out; a build of the
    whole catalog that left none out resolves it."""
    if not tracks:
        if whole:
            await resolve_alert(db, UNUSABLE_PRINTS, "catalog")
        return
    shown = ", ".join(f"#{t} ({why})" for t, why in tracks[:5])
    more = f" and {len(tracks) - 5} more" if len(tracks) > 5 else ""
    await raise_alert(
        db,
        "warning",
        UNUSABLE_PRINTS,
        "catalog",
        f"{len(tracks)} track(s) left out of the catalog index, their prints are unusable: "
        f"{shown}{more}; re-add their files, or `airtrack catalog remove ID`",
    )


async def list_alerts(
    db: Database, *, include_resolved: bool = False, limit: int = 200
) -> list[Row]:
    return await db.fetch("ops_alerts_list", {"all": include_resolved, "limit": limit})


class WebhookSender:
    """Deliver alert notifications to ``url`` from a background task."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        attempts: int,
        base_delay_s: float = 0.5,
        queue_max: int,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.base_delay_s = base_delay_s
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_max)
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def submit(self, payload: dict[str, Any]) -> None:
        """Queue one notification; never waits."""
        while True:
            try:
                self.queue.put_nowait(payload)
                return
            except asyncio.QueueFull:
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()
                    self.queue.task_done()
                    self.dropped += 1
                    WEBHOOK_DELIVERIES.labels("dropped").inc()
                    log.warning("webhook.dropped", reason="queue full")

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="alert-webhook")

    async def stop(self, drain_s: float = 2.0) -> None:
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout=drain_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False) as http:
            while True:
                payload = await self.queue.get()
                try:
                    await self._deliver(http, payload)
                finally:
                    self.queue.task_done()

    async def _deliver(self, http: httpx.AsyncClient, payload: dict[str, Any]) -> None:
        for attempt in range(1, self.attempts + 1):
            try:
                resp = await http.post(self.url, json=payload)
                if resp.status_code < 300:
                    self.delivered += 1
                    WEBHOOK_DELIVERIES.labels("delivered").inc()
                    return
                error = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            retry = attempt < self.attempts
            log.warning("webhook.failed", attempt=attempt, error=error, will_retry=retry)
            if retry:
                await asyncio.sleep(backoff_delay(attempt, base=self.base_delay_s, cap=30.0))
        self.failed += 1
        WEBHOOK_DELIVERIES.labels("failed").inc()
