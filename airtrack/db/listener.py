"""New-event wake-ups: a dedicated connection that LISTENs on ``airtrack_events``.

``airtrack_emit`` NOTIFYs that channel for every event it writes (events.sql). Webhook
delivery and the event stream wait on :class:`EventSignal` instead of polling fast; the
signal also fires every ``events_poll_s`` so a lost connection only costs latency,
never an event (the outbox, not the NOTIFY, is the record).

Like :mod:`.leader`, it is a connection outside the pool and follows the same rules:
named queries, driver errors converted to :mod:`airtrack.errors` at this boundary.
"""

from __future__ import annotations

import asyncio
import contextlib

import psycopg

from airtrack.errors import first_line
from airtrack.logging import get_logger

from .queries import sql

log = get_logger("airtrack.db.listener")


class EventSignal:
    """Wakes every waiter when an event may have been written.

    One :class:`asyncio.Event` per generation: a waiter waits on the current
    generation's event, a notify sets it and puts a fresh one in its place. No lock is
    held across an await, so a waiter cancelled at any moment (an SSE client that
    drops, often just as its own timeout fires) only leaves the set of waiters; it
    cannot keep the others from being woken. (``asyncio.wait_for`` on
    ``Condition.wait()`` inside ``async with`` could leave the condition's lock held
    when a cancel landed with the timeout: every later notify then blocked.)
    """

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        #: Bumped on every wake-up: a reader notes it before it reads, so a NOTIFY that
        #: arrives between its read and its wait is not lost.
        self.generation = 0
        self._next = asyncio.Event()
        self._waiting = 0

    def notify(self) -> None:
        """Wake every current waiter (never blocks)."""
        self.generation += 1
        woken, self._next = self._next, asyncio.Event()
        woken.set()

    async def fire(self) -> None:
        self.notify()

    def waiting(self) -> int:
        """How many waiters are waiting now (for tests and diagnostics)."""
        return self._waiting

    async def wait(self, timeout_s: float | None = None, *, seen: int | None = None) -> None:
        """Return on the next NOTIFY, or after ``timeout_s`` (default: the poll interval).

        With ``seen`` (a ``generation`` noted before reading), return at once if a NOTIFY
        came since.
        """
        limit = self.poll_s if timeout_s is None else min(timeout_s, self.poll_s)
        if seen is not None and seen != self.generation:
            return
        woken = self._next
        if limit <= 0:
            return
        self._waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(limit):
                    await woken.wait()
        finally:
            self._waiting -= 1

    async def listen(self, url: str, stop: asyncio.Event, *, timeout_s: float) -> None:
        """LISTEN until ``stop``; reconnect after a lost connection (then wake everyone)."""
        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(
                    url,
                    autocommit=True,
                    application_name="airtrack-events",
                    connect_timeout=max(1, int(timeout_s)),
                )
                try:
                    await conn.execute(sql("events_listen"))
                    while not stop.is_set():
                        got = False
                        async for _ in conn.notifies(timeout=self.poll_s, stop_after=1):
                            got = True
                        if got:
                            self.notify()
                finally:
                    with contextlib.suppress(Exception):
                        await conn.close()
            except (psycopg.Error, OSError) as exc:
                log.warning("events.listen_failed", error=first_line(exc))
                self.notify()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_s)
