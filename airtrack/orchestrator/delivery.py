"""Webhook delivery from the outbox: durable, in order, at least once, leader only.

Each endpoint has a cursor over ``outbound_events`` in (txid, id) order, reading only
events of finished transactions, so an event whose transaction commits late is never
skipped (see the column's comment in migration 0007).

One dispatcher per leader, woken by new events (NOTIFY, :mod:`airtrack.db.listener`) or
every ``events_poll_s``, asks the database once which endpoints have something to
deliver (``webhook_due``): idle, a thousand endpoints cost what one costs. For each due
endpoint it starts a delivery task, which delivers until that endpoint's queue is
empty or a delivery fails, then ends; so a receiver that is down or slow delays only
itself (never other receivers, never the control tick). The task first takes the
endpoint's lease with a compare-and-set (``webhook_lease``): the lease outlasts one
request (``webhook_lease_s`` > ``webhook_timeout_s``, the request's total deadline) and
every write that moves the cursor is fenced by it, so two replicas never deliver for
one endpoint at once, and a leader that dies mid-delivery loses nothing — the next one
resumes at the cursor once the lease has expired (the event in flight may then arrive
twice, with the same ``webhook-id``).

A failing head event backs off that endpoint only (exponential, capped, with jitter);
after ``webhook_retry_hours`` of failures the event is given up, recorded in
``webhook_giveups``, and delivery moves on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from airtrack.db import Database, Row
from airtrack.db.listener import EventSignal
from airtrack.errors import DatabaseError, first_line
from airtrack.logging import get_logger
from airtrack.metrics import EVENT_DELIVERIES
from airtrack.resilience import backoff_delay
from airtrack.settings import Settings

from .webhook_http import post, webhook_client
from .webhooks import message

log = get_logger("airtrack.orchestrator.delivery")

#: Events read per query; delivered one by one, in order.
BATCH = 200
#: How often the leader prunes events older than the retention.
PRUNE_EVERY_S = 600.0


class WebhookDelivery:
    """The dispatcher and its per-endpoint delivery tasks, while ``leads()`` is true."""

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
        self._tasks: dict[int, asyncio.Task[None]] = {}
        #: Set by a task that ended while a NOTIFY came: the dispatcher looks again now.
        self._kick = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop``: one database read per wake-up, whatever the endpoints."""
        s = self.settings
        recheck = s.events_recheck_s
        async with webhook_client(s) as http:
            try:
                while not stop.is_set():
                    seen = self.signal.generation
                    self._kick.clear()
                    held = await self._dispatch(http, stop)
                    if held:  # see wait_for_events: no NOTIFY will come for these
                        await self._sleep(stop, recheck, seen)
                        recheck = min(recheck * 2, s.events_poll_s)
                    else:
                        await self._sleep(stop, s.events_poll_s, seen)
                    if not held or self.signal.generation != seen:
                        # a new event: what it waits behind is new too, look again soon
                        recheck = s.events_recheck_s
            finally:
                await self._stop_all()

    async def _dispatch(self, http: httpx.AsyncClient, stop: asyncio.Event) -> bool:
        """Start a task for each due endpoint; True when events are held back."""
        for eid in [e for e, t in self._tasks.items() if t.done()]:
            del self._tasks[eid]
        if not self.leads():
            await self._stop_all()
            return False
        try:
            due = await self.db.fetch(
                "webhook_due",
                {
                    "by": self.replica_id,
                    "busy": sorted(self._tasks),
                    "skip": self.settings.webhook_skip_events,
                },
            )
            await self._prune()
        except DatabaseError as exc:
            log.warning("webhooks.dispatch_failed", error=first_line(exc))
            return False
        for row in due:
            eid = int(row["id"])
            if row["ready"] and eid not in self._tasks:
                self._tasks[eid] = asyncio.create_task(
                    self._endpoint(eid, http, stop), name=f"webhook-{eid}"
                )
        return any(row["held"] for row in due)

    async def _prune(self) -> None:
        if time.monotonic() - self._last_prune <= PRUNE_EVERY_S:
            return
        n = await self.db.execute(
            "events_prune", {"older_s": self.settings.events_retention_h * 3600}
        )
        self._last_prune = time.monotonic()
        if n:
            log.info("events.pruned", events=n)

    async def _sleep(self, stop: asyncio.Event, seconds: float, seen: int) -> None:
        """Until a NOTIFY (since ``seen``), a task's kick, ``stop``, or ``seconds``."""
        waits = [
            asyncio.create_task(stop.wait()),
            asyncio.create_task(self._kick.wait()),
            asyncio.create_task(self.signal.wait(seconds, seen=seen)),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _stop_all(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _endpoint(self, eid: int, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Deliver one endpoint's queue until it is empty, a delivery fails, or the lease
        is lost; the dispatcher starts it again when there is more."""
        s = self.settings
        try:
            while not stop.is_set():
                lease = await self.db.fetchone(
                    "webhook_lease",
                    {"id": eid, "by": self.replica_id, "lease_s": s.webhook_lease_s},
                )
                if lease is None or lease["wait_s"] > 0:  # another replica, gone, backing off
                    return
                seen = self.signal.generation
                events, _ = await read_events(
                    self.db,
                    (str(lease["cursor_txid"]), int(lease["cursor"])),
                    types=lease["event_types"],
                    stream_ids=lease["stream_ids"],
                    limit=BATCH,
                )
                if not events:
                    if self.signal.generation != seen:
                        self._kick.set()  # a NOTIFY the dispatcher skipped us for
                    return
                if not await self._deliver(eid, lease, events, http, stop):
                    return
        except DatabaseError as exc:
            log.warning("webhook.db_failed", endpoint=eid, error=first_line(exc))

    async def _deliver(
        self,
        eid: int,
        lease: Row,
        events: list[Row],
        http: httpx.AsyncClient,
        stop: asyncio.Event,
    ) -> bool:
        """POST events in order; False once one fails or the lease is lost."""
        s = self.settings
        for ev in events:
            if stop.is_set():
                return False
            body, headers = message(
                ev["event_id"], ev["type"], ev["at"], ev["data"], lease["secret"]
            )
            answer = await post(http, lease["url"], body, headers, s)
            if answer.error is None:
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
                    return False
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
                    "error": answer.error,
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
                event_id=ev["event_id"],
                error=answer.error,
                answer_bytes=answer.answer_bytes,
                outcome=outcome,
                retry_in_s=round(delay, 2),
            )
            return False
        return True


async def read_events(
    db: Database,
    cursor: tuple[str, int],
    *,
    types: list[str],
    stream_ids: list[int],
    limit: int,
) -> tuple[list[Row], tuple[str, int]]:
    """The events past ``cursor`` that a reader wants (at most ``limit``, in order), and
    where its cursor goes: past the last of them, or, when fewer than ``limit`` came,
    past every event of a finished transaction (``events_after``), so that a filtered
    reader does not read the events it does not want again."""
    rows = await db.fetch(
        "events_after",
        {
            "cursor_txid": cursor[0],
            "cursor": cursor[1],
            "types": types,
            "stream_ids": stream_ids,
            "limit": limit,
        },
    )
    events = sorted(
        (r for r in rows if r["event_id"] is not None),
        key=lambda r: (int(r["txid"]), int(r["id"])),
    )
    to = (int(cursor[0]), int(cursor[1]))
    if events:
        to = max(to, (int(events[-1]["txid"]), int(events[-1]["id"])))
    if len(events) < limit:
        for end in (r for r in rows if r["event_id"] is None):
            to = max(to, (int(end["txid"]), int(end["id"])))
    return events, (str(to[0]), to[1])


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
