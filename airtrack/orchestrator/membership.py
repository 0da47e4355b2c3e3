"""Worker membership: register, heartbeat, deregister (docs/architecture.md#path-of-a-heartbeat).

Each call is one short transaction that touches rows in the global lock order
(the worker's own ``workers`` row, then ``assignments`` by stream id) and
never waits on the network while holding a lock (R2.1). Heartbeats from
different workers touch different rows, so they do not serialise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from airtrack.db import Database, Tx
from airtrack.logging import get_logger
from airtrack.metrics import ASSIGNMENT_MOVES, HEARTBEATS, WORKER_REPORTED
from airtrack.protocol import Assignment, HeartbeatRequest, RegisterRequest

log = get_logger("airtrack.orchestrator.membership")


@dataclass
class HeartbeatOutcome:
    """What a heartbeat changed, for the reply, the logs and the control loop."""

    assignments: list[Assignment]
    adopted: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    handed_off: list[int] = field(default_factory=list)


async def _assigned(tx: Tx, worker_id: str) -> list[Assignment]:
    rows = await tx.fetch("assignments_for_worker", {"id": worker_id})
    return [Assignment(**r) for r in rows]


async def _event(tx: Tx, kind: str, subject: str, **detail: Any) -> None:
    await tx.execute("event_insert", {"kind": kind, "subject": subject, "detail": Jsonb(detail)})


async def register(db: Database, req: RegisterRequest) -> tuple[int, list[Assignment]]:
    """Idempotent register; returns (incarnation, current assignments)."""

    async def fn(tx: Tx) -> tuple[int, list[Assignment]]:
        before = await tx.fetchval("worker_state_before", {"id": req.worker_id})
        row = await tx.fetchone(
            "worker_register",
            {
                "id": req.worker_id,
                "host": req.host,
                "version": req.version,
                "capacity": req.capacity,
            },
        )
        assert row is not None
        if before in ("draining", "inactive"):
            # A worker that left (or was declared gone) owns nothing any more.
            released = await tx.fetch("assignments_release_worker", {"id": req.worker_id})
            if released:
                ASSIGNMENT_MOVES.labels("rejoin_release").inc(len(released))
        if before in ("suspect", "inactive"):
            # Its lease expired but it may never have stopped (an orchestrator outage):
            # give back the streams nobody else has taken since.
            held = len(await tx.fetch("assignments_for_worker", {"id": req.worker_id}))
            reclaimed = await tx.fetch(
                "assignments_reclaim", {"id": req.worker_id, "room": req.capacity - held}
            )
            if reclaimed:
                ASSIGNMENT_MOVES.labels("reclaimed").inc(len(reclaimed))
                await _event(
                    tx,
                    "assignment.reclaimed",
                    req.worker_id,
                    streams=[r["stream_id"] for r in reclaimed],
                )
        await _event(
            tx,
            "worker.registered",
            req.worker_id,
            previous_state=before,
            capacity=req.capacity,
            incarnation=row["incarnation"],
        )
        await tx.execute("notify_tick", {"why": f"register:{req.worker_id}"})
        return int(row["incarnation"]), await _assigned(tx, req.worker_id)

    incarnation, assignments = await db.run("worker_register", fn)
    log.info(
        "worker.registered",
        worker=req.worker_id,
        capacity=req.capacity,
        incarnation=incarnation,
        kept=len(assignments),
    )
    return incarnation, assignments


async def heartbeat(db: Database, worker_id: str, req: HeartbeatRequest) -> HeartbeatOutcome | None:
    """Record a heartbeat; ``None`` when the worker is unknown or gone (→ HTTP 404)."""
    sids = [s.stream_id for s in req.streams]
    epochs = [s.epoch for s in req.streams]
    meta = {
        "streams": [s.model_dump(exclude_none=True) for s in req.streams],
        "metrics": req.metrics or {},
    }

    params = {
        "id": worker_id,
        "sids": sids,
        "epochs": epochs,
        "statuses": [s.status for s in req.streams],
        "errors": [s.error for s in req.streams],
        "meta": Jsonb(meta),
    }

    async def fn(tx: Tx) -> HeartbeatOutcome | None:
        # One round trip: the whole heartbeat is the server-side function airtrack_heartbeat
        # (migration 0002), which keeps the lock order of every other transaction.
        result = await tx.fetchval("worker_heartbeat_fn", params)
        if result is None:
            return None
        return HeartbeatOutcome(
            assignments=[Assignment(**a) for a in result["assignments"]],
            adopted=list(result["adopted"]),
            refused=list(result["refused"]),
            handed_off=list(result["handed_off"]),
        )

    outcome = await db.run("worker_heartbeat", fn, atomic=False)
    HEARTBEATS.inc()
    if outcome is None:
        return None
    for name, value in (req.metrics or {}).items():
        WORKER_REPORTED.labels(worker_id, name).set(value)
    if outcome.handed_off:
        ASSIGNMENT_MOVES.labels("handoff").inc(len(outcome.handed_off))
        log.info("assignment.handed_off", worker=worker_id, streams=outcome.handed_off)
    if outcome.adopted:
        ASSIGNMENT_MOVES.labels("adopted").inc(len(outcome.adopted))
        log.info("assignment.adopted", worker=worker_id, streams=outcome.adopted)
    if outcome.refused:
        log.warning("assignment.refused_report", worker=worker_id, streams=outcome.refused)
    return outcome


async def deregister(db: Database, worker_id: str) -> list[int] | None:
    """Graceful leave: the worker's streams are free at once. ``None`` if unknown."""

    async def fn(tx: Tx) -> list[int] | None:
        row = await tx.fetchone("worker_deregister", {"id": worker_id})
        if row is None:
            return None
        released = await tx.fetch("assignments_release_worker", {"id": worker_id})
        await tx.execute("assignments_clear_next", {"ids": [worker_id]})
        await _event(tx, "worker.deregistered", worker_id, released=len(released))
        await tx.execute("notify_tick", {"why": f"deregister:{worker_id}"})
        return [int(r["stream_id"]) for r in released]

    released = await db.run("worker_deregister", fn)
    if released is not None:
        ASSIGNMENT_MOVES.labels("leave").inc(len(released))
        log.info("worker.deregistered", worker=worker_id, released=len(released))
    return released
