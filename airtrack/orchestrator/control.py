"""The control loop: liveness, handoffs and rebalancing, run by one leader.

Leadership is a session advisory lock held on a dedicated connection (not
through the pool): it is released by the server the moment the leader's
connection dies, so another replica takes over within one tick
(docs/architecture.md#leader-election).
The leader also LISTENs on ``airtrack_tick`` so a join or a graceful leave
is acted on at once instead of at the next tick (R1.1, R1.2).

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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from airtrack.db import Database, Row, Tx
from airtrack.db.queries import sql
from airtrack.errors import DatabaseError
from airtrack.logging import get_logger
from airtrack.metrics import ASSIGNMENT_MOVES, IS_LEADER, STREAMS_PER_WORKER
from airtrack.settings import Settings

from .balancer import Move, WorkerSlot, balance

log = get_logger("airtrack.orchestrator.control")

LEADER_LOCK_KEY = 0x41495254_4C454144  # "AIRT" "LEAD"
MOVES_PER_TX = 500


@dataclass
class TickReport:
    """What one control tick did (for logs, tests and diagnostics)."""

    suspect: list[str] = field(default_factory=list)
    inactive: list[str] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    applied: int = 0
    conflicts: int = 0
    gap_ratio: float = 0.0
    loads: dict[str, int] = field(default_factory=dict)


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
        self._conn: psycopg.AsyncConnection[Row] | None = None
        self._recovery = recovery or (lambda: False)
        self._on_tick = on_tick
        self.last_tick: TickReport | None = None
        self.ticks = 0

    # -- leadership -------------------------------------------------------------

    async def _ensure_conn(self) -> psycopg.AsyncConnection[Row]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self.url,
                autocommit=True,
                row_factory=dict_row,
                application_name="airtrack-leader",
                connect_timeout=5,
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
            )
        return self._conn

    async def _campaign(self) -> bool:
        """Try to become (or stay) leader; ``True`` while this replica leads."""
        try:
            conn = await self._ensure_conn()
            if self.is_leader:
                await asyncio.wait_for(conn.execute(sql("ping")), timeout=5)
                return True
            cur = await asyncio.wait_for(
                conn.execute(sql("leader_try_lock"), {"key": LEADER_LOCK_KEY}),
                timeout=5,
            )
            row = await cur.fetchone()
            if row and row["locked"]:
                await conn.execute(sql("leader_listen"))
                self._become(True)
            return self.is_leader
        except (psycopg.Error, OSError, TimeoutError) as exc:
            if self.is_leader:
                log.warning("leader.lost", replica=self.replica_id, error=str(exc).splitlines()[0])
            self._become(False)
            await self._drop_conn()
            return False

    def _become(self, leader: bool) -> None:
        if leader != self.is_leader:
            self.is_leader = leader
            self.leader_since = time.monotonic() if leader else None
            IS_LEADER.set(1 if leader else 0)
            log.info("leader.changed", replica=self.replica_id, leader=leader)

    async def _drop_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    async def _wait(self, seconds: float, stop: asyncio.Event) -> None:
        """Sleep until the next tick, a NOTIFY (leader only) or stop."""
        if self.is_leader and self._conn is not None:
            try:
                gen = self._conn.notifies(timeout=seconds, stop_after=1)
                async for _ in gen:
                    break
                return
            except (psycopg.Error, OSError):
                self._become(False)
                await self._drop_conn()
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
            await self._drop_conn()

    # -- the tick ------------------------------------------------------------------

    def lease_s(self) -> float:
        factor = self.settings.recovery_lease_factor if self._recovery() else 1.0
        return self.settings.lease_ttl_s * factor

    async def tick(self) -> TickReport:
        report = TickReport()
        lease = self.lease_s()
        await self._liveness(report, lease)
        rows = await self.db.fetch(
            "assignments_snapshot",
            {"grace_s": self.settings.start_grace_s, "revoke_timeout_s": lease},
        )
        workers = await self.db.fetch("workers_list")
        live = {w["id"]: w for w in workers if w["state"] == "active"}
        rows = await self._finish_handoffs(rows, live, report)
        await self._rebalance(rows, live, report)
        await self.db.execute(
            "control_put",
            {
                "key": "leader",
                "value": Jsonb(
                    {
                        "replica": self.replica_id,
                        "at": time.time(),
                    }
                ),
            },
        )
        self.ticks += 1
        self.last_tick = report
        if self._on_tick is not None:
            self._on_tick(report)
        return report

    async def _liveness(self, report: TickReport, lease: float) -> None:
        async def fn(tx: Tx) -> None:
            report.suspect = [
                r["id"] for r in await tx.fetch("workers_expire_lease", {"lease_s": lease})
            ]
            report.inactive = [
                r["id"]
                for r in await tx.fetch(
                    "workers_expire_inactive", {"inactive_s": self.settings.inactive_after_s}
                )
            ]
            gone = report.suspect + report.inactive
            if gone:
                await tx.execute("assignments_clear_next", {"ids": gone})
                for wid in report.suspect:
                    await tx.execute(
                        "event_insert",
                        {
                            "kind": "worker.suspect",
                            "subject": wid,
                            "detail": Jsonb({"lease_s": lease}),
                        },
                    )
                for wid in report.inactive:
                    await tx.execute(
                        "event_insert",
                        {"kind": "worker.inactive", "subject": wid, "detail": Jsonb({})},
                    )

        await self.db.run("control_liveness", fn)
        for wid in report.suspect:
            log.warning("worker.suspect", worker=wid, lease_s=lease)
        for wid in report.inactive:
            log.warning("worker.inactive", worker=wid)

    async def _finish_handoffs(
        self, rows: list[Row], live: dict[str, Row], report: TickReport
    ) -> list[Row]:
        """Complete revokes whose old owner is gone or overdue (revoke, then assign)."""
        due = [
            r
            for r in rows
            if r["state"] == "revoking" and (r["worker_id"] not in live or r["revoke_overdue"])
        ]
        if not due:
            return rows

        async def fn(tx: Tx) -> list[int]:
            done = []
            for r in due:
                nxt = r["next_worker_id"] if r["next_worker_id"] in live else None
                ok = await tx.fetchone(
                    "assignment_cas",
                    {
                        "sid": r["stream_id"],
                        "epoch": r["epoch"],
                        "old_state": "revoking",
                        "old_worker": r["worker_id"],
                        "worker": nxt,
                        "next": None,
                        "bump": 1,
                        "state": "assigned" if nxt else "unassigned",
                    },
                )
                if ok is not None:
                    done.append(int(r["stream_id"]))
            return done

        report.completed = await self.db.run("control_finish_handoffs", fn)
        if report.completed:
            ASSIGNMENT_MOVES.labels("handoff_forced").inc(len(report.completed))
            log.info("assignment.handoff_forced", streams=report.completed)
            return await self.db.fetch(
                "assignments_snapshot",
                {"grace_s": self.settings.start_grace_s, "revoke_timeout_s": self.lease_s()},
            )
        return rows

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
        if not plan.moves:
            return
        for start in range(0, len(plan.moves), MOVES_PER_TX):
            chunk = sorted(plan.moves[start : start + MOVES_PER_TX], key=lambda m: m.stream_id)

            async def apply(tx: Tx, c: list[Move] = chunk) -> tuple[int, int]:
                return await self._apply(tx, c, by_sid)

            applied, conflicts = await self.db.run("control_apply_moves", apply)
            report.applied += applied
            report.conflicts += conflicts
        reasons = Counter(m.reason for m in plan.moves)
        for reason, n in reasons.items():
            ASSIGNMENT_MOVES.labels(reason).inc(n)
        log.info(
            "rebalance.applied",
            moves=len(plan.moves),
            applied=report.applied,
            conflicts=report.conflicts,
            reasons=dict(reasons),
            gap_ratio=round(plan.gap_ratio, 3),
        )

    @staticmethod
    async def _apply(tx: Tx, moves: list[Move], by_sid: dict[int, Row]) -> tuple[int, int]:
        applied = conflicts = 0
        for m in moves:
            r = by_sid[m.stream_id]
            base = {
                "sid": m.stream_id,
                "epoch": r["epoch"],
                "old_state": r["state"],
                "old_worker": r["worker_id"],
            }
            if r["state"] == "revoking":
                # In flight: only the destination changes; the old owner still holds it.
                params = {
                    **base,
                    "worker": r["worker_id"],
                    "next": m.to_worker,
                    "bump": 0,
                    "state": "revoking",
                }
            elif m.from_worker is None:
                # Unassigned, or its owner is gone (lease expired): assign directly.
                params = {
                    **base,
                    "worker": m.to_worker,
                    "next": None,
                    "bump": 1,
                    "state": "assigned" if m.to_worker else "unassigned",
                }
            else:
                # Live owner: revoke first; the new owner gets it once the old one let go.
                params = {
                    **base,
                    "worker": m.from_worker,
                    "next": m.to_worker,
                    "bump": 0,
                    "state": "revoking",
                }
            ok = await tx.fetchone("assignment_cas", params)
            if ok is None:
                conflicts += 1
            else:
                applied += 1
        detail = {
            "moves": [[m.stream_id, m.from_worker, m.to_worker, m.reason] for m in moves[:200]],
            "count": len(moves),
        }
        await tx.execute(
            "event_insert", {"kind": "rebalance", "subject": "", "detail": Jsonb(detail)}
        )
        return applied, conflicts
