"""The control loop: liveness, handoffs and rebalancing, run by one leader.

Leadership is a session advisory lock held on a dedicated connection (not
through the pool): it is released by the server the moment the leader's
connection dies, so another replica takes over within one tick
(docs/architecture.md#leader-election).
The leader also LISTENs on ``airtrack_tick`` so a join or a graceful leave
is acted on at once instead of at the next tick (R1.1, R1.2).

A replica that has just become leader (a start, a restart, a takeover) expires
no lease and forces no handoff for ``leader_grace_s``: it did not hear the
heartbeats sent before it led, and workers that kept capturing through an
orchestrator outage must not lose their streams for it.  When it takes the lead
as the database comes back, the grace is longer by ``breaker_open_s``: the
leader's own connection reconnects at once, but every replica's pool breaker
opened during the outage and fails heartbeats fast until it next probes, up to
``breaker_open_s`` later.

Every change is a compare-and-set on one assignment row (expected owner,
epoch and state), so a plan computed from a stale snapshot — or by a replica
that has just lost leadership — can never give a stream two owners (R3.3).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airtrack.db import Database, Row
from airtrack.db.leader import LeaderSession
from airtrack.errors import DatabaseError, DatabaseUnavailable, first_line
from airtrack.logging import get_logger
from airtrack.metrics import IS_LEADER, STREAMS_PER_WORKER
from airtrack.settings import Settings

from . import ownership, stream_state
from .balancer import Move, WorkerSlot, balance
from .listeners import ListenerPoller

log = get_logger("airtrack.orchestrator.control")


@dataclass
class TickReport:
    """What one control tick did (for logs, tests and diagnostics)."""

    #: This leader has just taken over: no lease expired, no handoff forced.
    grace: bool = False
    suspect: list[str] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    applied: int = 0
    conflicts: int = 0
    gap_ratio: float = 0.0
    loads: dict[str, int] = field(default_factory=dict)
    state_changes: list[Row] = field(default_factory=list)


class ControlLoop:
    """Leader election plus the periodic control tick."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        url: str,
        *,
        recovery: Callable[[], bool] | None = None,
        on_tick: Callable[[TickReport], Any] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.url = url
        self.replica_id = f"{socket.gethostname()}:{os.getpid()}"
        self.is_leader = False
        self.leader_since: float | None = None
        #: the last campaign could not reach the database (cleared by one that could)
        self._db_lost = False
        #: this lead began as the database came back (see the module doc)
        self._after_outage = False
        self._session = LeaderSession(
            url, timeout_s=settings.leader_db_timeout_s, keepalive_s=settings.leader_keepalive_s
        )
        self._recovery = recovery or (lambda: False)
        self._on_tick = on_tick
        self._gauged: set[str] = set()  # workers with a streams-per-worker series
        self._uptime_at = float("-inf")
        #: listener figures from stats URLs, polled in the background (leader only)
        self.listeners = ListenerPoller(db, settings)

    # -- leadership -------------------------------------------------------------

    async def _campaign(self) -> bool:
        """Try to become (or stay) leader; ``True`` while this replica leads."""
        try:
            won = await self._session.campaign()
        except DatabaseUnavailable as exc:
            if self.is_leader:
                log.warning("leader.lost", replica=self.replica_id, error=first_line(exc))
            self._db_lost = True
            self._become(False)
        else:
            self._become(won)
            self._db_lost = False
        return self.is_leader

    def _become(self, leader: bool) -> None:
        if leader != self.is_leader:
            self.is_leader = leader
            self.leader_since = time.monotonic() if leader else None
            self._after_outage = leader and self._db_lost
            IS_LEADER.set(1 if leader else 0)
            log.info("leader.changed", replica=self.replica_id, leader=leader)
            if leader:
                log.info(
                    "leader.grace",
                    replica=self.replica_id,
                    seconds=self.grace_s(),
                    after_outage=self._after_outage,
                )

    async def _wait(self, seconds: float, stop: asyncio.Event) -> None:
        """Sleep until the next tick, a NOTIFY (leader only) or stop."""
        if self.is_leader:
            try:
                await self._session.wait(seconds)
                return
            except DatabaseUnavailable:
                self._db_lost = True
                self._become(False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)

    async def run(self, stop: asyncio.Event) -> None:
        """Campaign and tick until ``stop`` is set; never raises on DB trouble."""
        try:
            while not stop.is_set():
                if await self._campaign():
                    try:
                        await self.tick()
                    except DatabaseError as exc:
                        log.warning("control.tick_failed", error=str(exc), sqlstate=exc.sqlstate)
                    except Exception:
                        log.exception("control.tick_crashed")
                await self._wait(self.settings.control_tick_s, stop)
        finally:
            self._become(False)
            await self.listeners.stop()
            await self._session.close()

    # -- the tick ------------------------------------------------------------------

    def lease_s(self) -> float:
        factor = self.settings.recovery_lease_factor if self._recovery() else 1.0
        return self.settings.lease_ttl_s * factor

    def grace_s(self) -> float:
        """How long a new leader expires nothing: the setting, and never less than a lease;
        as the database comes back, longer by the breakers' open time (see the module doc)."""
        grace = max(self.settings.leader_grace_s, self.lease_s())
        return grace + self.settings.breaker_open_s if self._after_outage else grace

    def in_grace(self) -> bool:
        """Whether this leader took over too recently to know who went silent."""
        since = self.leader_since
        return since is not None and time.monotonic() - since < self.grace_s()

    async def tick(self) -> TickReport:
        report = TickReport(grace=self.in_grace())
        lease = self.lease_s()
        if not report.grace:
            report.suspect, report.inactive = await ownership.expire_workers(
                self.db, lease_s=lease, inactive_s=self.settings.inactive_after_s
            )
        rows = await self._snapshot(lease)
        workers = await self.db.fetch("workers_list")
        live = {w["id"]: w for w in workers if w["state"] == "active"}
        report.completed = await ownership.finish_handoffs(
            self.db, rows, set(live), overdue=not report.grace
        )
        if report.completed:
            rows = await self._snapshot(lease)
        await self._rebalance(rows, live, report)
        report.state_changes = await stream_state.evaluate(self.db, self.settings)
        if time.monotonic() - self._uptime_at >= self.settings.uptime_refresh_s:
            await stream_state.uptime(self.db)  # keeps /metrics' uptime gauges current
            self._uptime_at = time.monotonic()
        self.listeners.kick()  # a round runs beside the tick, never inside it
        await self.db.execute(
            "control_put",
            {"key": "leader", "value": {"replica": self.replica_id, "at": time.time()}},
        )
        if self._on_tick is not None:
            self._on_tick(report)
        return report

    async def _snapshot(self, lease: float) -> list[Row]:
        return await self.db.fetch(
            "assignments_snapshot",
            {"grace_s": self.settings.start_grace_s, "revoke_timeout_s": lease},
        )

    async def _rebalance(self, rows: list[Row], live: dict[str, Row], report: TickReport) -> None:
        by_sid = {int(r["stream_id"]): r for r in rows}
        streams = [sid for sid, r in by_sid.items() if r["enabled"]]
        current: dict[int, str | None] = {}
        pinned: set[int] = set()
        for sid, r in by_sid.items():
            if r["state"] == "revoking":
                current[sid] = r["next_worker_id"]
                pinned.add(sid)
            else:
                current[sid] = r["worker_id"]
                if r["starting"]:
                    pinned.add(sid)
        slots = [WorkerSlot(w["id"], int(w["capacity"])) for w in live.values()]
        plan = balance(
            streams,
            slots,
            current,
            pinned=pinned,
            voluntary=not self._recovery(),
            threshold=self.settings.rebalance_threshold,
        )
        report.moves = plan.moves
        report.gap_ratio = plan.gap_ratio
        report.loads = dict(plan.loads)
        for wid, n in plan.loads.items():
            STREAMS_PER_WORKER.labels(wid).set(n)
        for wid in self._gauged - plan.loads.keys():
            STREAMS_PER_WORKER.remove(wid)  # gone: its series must not stay forever
        self._gauged = set(plan.loads)
        if plan.moves:
            report.applied, report.conflicts = await ownership.apply_moves(
                self.db, plan.moves, by_sid, per_tx=self.settings.rebalance_moves_per_tx
            )
