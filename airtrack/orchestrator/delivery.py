"""Webhook delivery from the outbox: durable, in order, at least once, leader only.

Each endpoint has a cursor over ``outbound_events`` in (txid, id) order, reading only
events of finished transactions, so an event whose transaction commits late is never
skipped (see the column's comment in migration 0007); the leader runs one task per
endpoint, so a receiver that is down or slow delays only itself (never other receivers,
never the control tick). The task first takes the endpoint's lease with a
compare-and-set (``webhook_lease``): the lease outlasts one request (``webhook_lease_s``
> ``webhook_timeout_s``) and every write that moves the cursor is fenced by it, so two
replicas never deliver for one endpoint at once, and a leader that dies mid-delivery
loses nothing — the next one resumes at the cursor once the lease has expired (the
event in flight may then arrive twice, with the same ``webhook-id``).

A failing head event backs off that endpoint only (exponential, capped, with jitter);
after ``webhook_retry_hours`` of failures the event is given up, recorded in
``webhook_giveups``, and delivery moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import httpx

from airtrack.db import Database, Row
from airtrack.db.listener import EventSignal
from airtrack.errors import DatabaseError, first_line
from airtrack.logging import get_logger
from airtrack.metrics import EVENT_DELIVERIES
from airtrack.resilience import backoff_delay
from airtrack.settings import Settings

from .webhooks import message

log = get_logger("airtrack.orchestrator.delivery")

#: Events read per query; delivered one by one, in order.
BATCH = 200
#: How often the leader prunes events older than the retention.
PRUNE_EVERY_S = 600.0


class WebhookDelivery:
    """Runs the per-endpoint delivery tasks while ``leads()`` is true."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        signal: EventSignal,
        *,
        replica_id: str,
        leads: Callable[[], bool],
    ) -> None:
        self.db = db
        self.settings = settings
        self.signal = signal
        self.replica_id = replica_id
        self.leads = leads
        self._last_prune = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Start and stop endpoint tasks as endpoints and leadership come and go."""
        tasks: dict[int, asyncio.Task[None]] = {}
        timeout = httpx.Timeout(self.settings.webhook_timeout_s)
        limits = httpx.Limits(max_keepalive_connections=100, max_connections=1000)
        async with httpx.AsyncClient(
            timeout=timeout, limits=limits, follow_redirects=False
        ) as http:
            try:
                while not stop.is_set():
                    wanted = await self._wanted(set(tasks))
                    for eid in [e for e, t in tasks.items() if t.done() or e not in wanted]:
                        tasks.pop(eid).cancel()
                    for eid in wanted - set(tasks):
                        tasks[eid] = asyncio.create_task(
                            self._endpoint(eid, http, stop), name=f"webhook-{eid}"
                        )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.settings.events_poll_s)
            finally:
                for task in tasks.values():
                    task.cancel()
                await asyncio.gather(*tasks.values(), return_exceptions=True)

    async def _wanted(self, current: set[int]) -> set[int]:
        if not self.leads():
            return set()
        try:
            ids = {int(r["id"]) for r in await self.db.fetch("webhook_ids")}
            if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
                n = await self.db.execute(
                    "events_prune", {"older_s": self.settings.events_retention_h * 3600}
                )
                self._last_prune = time.monotonic()
                if n:
                    log.info("events.pruned", events=n)
            return ids
        except DatabaseError as exc:
            log.warning("webhooks.list_failed", error=first_line(exc))
            return current

    async def _endpoint(self, eid: int, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        s = self.settings
        recheck = s.events_recheck_s
        while not stop.is_set():
            try:
                lease = await self.db.fetchone(
                    "webhook_lease",
                    {"id": eid, "by": self.replica_id, "lease_s": s.webhook_lease_s},
                )
                if lease is None:  # another replica holds it, or the endpoint is gone
                    await self._pause(stop, s.webhook_lease_s / 3)
                    continue
                if lease["wait_s"] > 0:  # backing off after a failure
                    await self._pause(stop, min(lease["wait_s"], s.webhook_lease_s / 3))
                    continue
                seen = self.signal.generation
                events = await self.db.fetch(
                    "webhook_pending",
                    {
                        "cursor_txid": lease["cursor_txid"],
                        "cursor": lease["cursor"],
                        "types": lease["event_types"],
                        "stream_ids": lease["stream_ids"],
                        "limit": BATCH,
                    },
                )
                if not events:
                    recheck = await wait_for_events(
                        self.db,
                        self.signal,
                        s,
                        seen=seen,
                        cursor=(lease["cursor_txid"], lease["cursor"]),
                        types=lease["event_types"],
                        stream_ids=lease["stream_ids"],
                        recheck=recheck,
                    )
                    continue
                recheck = s.events_recheck_s
                await self._deliver(eid, lease, events, http, stop)
            except DatabaseError as exc:
                log.warning("webhook.db_failed", endpoint=eid, error=first_line(exc))
                await self._pause(stop, s.events_poll_s)

    async def _deliver(
        self,
        eid: int,
        lease: Row,
        events: list[Row],
        http: httpx.AsyncClient,
        stop: asyncio.Event,
    ) -> None:
        """POST events in order until one fails or the lease is lost."""
        s = self.settings
        for ev in events:
            if stop.is_set():
                return
            error = await self._post(http, lease, ev)
            if error is None:
                EVENT_DELIVERIES.labels("delivered").inc()
                moved = await self.db.fetchone(
                    "webhook_delivered",
                    {
                        "id": eid,
                        "by": self.replica_id,
                        "txid": ev["txid"],
                        "event": ev["id"],
                        "lease_s": s.webhook_lease_s,
                    },
                )
                if moved is None:
                    log.warning("webhook.lease_lost", endpoint=eid)
                    return
                continue
            delay = backoff_delay(
                int(lease["attempts"]) + 1,
                base=s.webhook_backoff_base_s,
                cap=s.webhook_backoff_max_s,
            )
            outcome = await self.db.fetchval(
                "webhook_failed",
                {
                    "id": eid,
                    "by": self.replica_id,
                    "txid": ev["txid"],
                    "event": ev["id"],
                    "error": error,
                    "delay_s": delay,
                    "retry_s": s.webhook_retry_hours * 3600,
                    "lease_s": s.webhook_lease_s,
                },
                idempotent=False,
            )
            EVENT_DELIVERIES.labels("gave_up" if outcome == "gave_up" else "failed").inc()
            log.warning(
                "webhook.failed",
                endpoint=eid,
                event=ev["event_id"],
                error=error,
                outcome=outcome,
                retry_in_s=round(delay, 2),
            )
            return

    async def _post(self, http: httpx.AsyncClient, lease: Row, ev: Row) -> str | None:
        """Deliver one event; ``None`` on a 2xx answer, else why it failed."""
        body, headers = message(ev["event_id"], ev["type"], ev["at"], ev["data"], lease["secret"])
        try:
            resp = await http.post(lease["url"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {first_line(exc)}"[:500]
        if 200 <= resp.status_code < 300:
            return None
        return f"HTTP {resp.status_code}"

    @staticmethod
    async def _pause(stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.01))


async def wait_for_events(
    db: Database,
    signal: EventSignal,
    settings: Settings,
    *,
    seen: int,
    cursor: tuple[str, int],
    types: list[str],
    stream_ids: list[int],
    recheck: float,
) -> float:
    """After a read that found nothing more: wait until new events may be readable.

    Usually that is the next NOTIFY. But a committed event is readable only once every
    older transaction has finished (commit-safe order), and an older transaction that
    writes no event sends no NOTIFY when it ends: waiting for the next NOTIFY or the
    poll then held such events for up to ``events_poll_s`` (the ~1 s p99 of the event
    bench). So while events are held back, look again after ``recheck`` seconds,
    doubling up to the poll interval. Returns the next ``recheck``.
    """
    held = await db.fetchval(
        "events_held_back",
        {"cursor_txid": cursor[0], "cursor": cursor[1], "types": types, "stream_ids": stream_ids},
    )
    if not held:
        await signal.wait(seen=seen)
        return settings.events_recheck_s
    await signal.wait(recheck, seen=seen)
    return min(recheck * 2, settings.events_poll_s)


def delivery_state(row: Row) -> dict[str, Any]:
    """An endpoint row as the API and CLI show it (no secret)."""
    keep = (
        "id",
        "url",
        "event_types",
        "stream_ids",
        "created_at",
        "cursor",
        "queued",
        "delivered",
        "failures",
        "given_up",
        "attempts",
        "failing_since",
        "next_attempt_at",
        "last_success_at",
        "last_error",
        "leased_by",
        "leased_until",
    )
    return {k: row.get(k) for k in keep}
