"""Who owns each stream, and every way that changes: the one home of ownership.

Each transition is one function in ``airtrack/db/ownership.sql`` (read its
header for the states of an assignment and the lock order); this module is
the only caller. Here live what the database does not do: metrics, logs and
turning rows into protocol objects.

=====================  ========================================================
transition             when
=====================  ========================================================
:func:`register`       a worker joins or comes back (release after a leave,
                       reclaim after an outage)
:func:`heartbeat`      every heartbeat: confirm, complete handoffs the worker
                       let go of, adopt or refuse streams it reports
:func:`deregister`     graceful leave: its streams are free at once
:func:`expire_workers` the leader's tick: lease expiry and inactivity
:func:`finish_handoffs` the leader's tick: revokes whose old owner is gone
:func:`apply_moves`    the leader's tick: the balancer's plan, compare-and-set
=====================  ========================================================

What a worker writes about its streams (plays, stream titles) is fenced by
``airtrack_fence`` in the same file, called by the play log
(:mod:`airtrack.orchestrator.play_log`): a write is not an ownership transition.

The audit log (table ``audit_log``) of ownership is written by the database helper
``airtrack_audit`` (kinds ``worker.*``, ``assignment.*``, ``play.stale``,
``title.stale``); :func:`audit` is its Python door for the few written from here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airtrack.db import Database, Row, Tx
from airtrack.logging import get_logger
from airtrack.metrics import ASSIGNMENT_MOVES, HEARTBEATS, WORKER_REPORTED, WorkerSeries
from airtrack.protocol import WORKER_METRICS, Assignment, HeartbeatRequest, RegisterRequest

from .balancer import Move

log = get_logger("airtrack.orchestrator.ownership")

#: The metrics workers report, per worker: known names only, dropped when a worker goes.
REPORTED = WorkerSeries(WORKER_REPORTED, WORKER_METRICS)


async def audit(tx: Tx, kind: str, subject: str, **detail: Any) -> None:
    """Write one ownership entry of the audit log in ``tx`` (kinds as in ownership.sql)."""
    await tx.execute("ownership_audit", {"kind": kind, "subject": subject, "detail": detail})


# -- membership -------------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """What a register did: the worker's incarnation and the streams it holds now."""

    incarnation: int
    previous_state: str | None
    assignments: list[Assignment]
    released: list[int]
    reclaimed: list[int]


async def worker_known(db: Database, worker_id: str) -> bool:
    """Whether the store has a row for ``worker_id`` (a re-register, not a new id)."""
    return bool(await db.fetchval("worker_exists", {"id": worker_id}))


async def register(db: Database, req: RegisterRequest) -> Registration:
    """Idempotent register (static membership): the same id keeps its row."""
    params = {
        "id": req.worker_id,
        "host": req.host,
        "version": req.version,
        "capacity": req.capacity,
    }
    result = await db.fetchval("ownership_register", params)
    reg = Registration(
        incarnation=int(result["incarnation"]),
        previous_state=result["previous_state"],
        assignments=[Assignment(**a) for a in result["assignments"]],
        released=list(result["released"]),
        reclaimed=list(result["reclaimed"]),
    )
    if reg.released:
        ASSIGNMENT_MOVES.labels("rejoin_release").inc(len(reg.released))
    if reg.reclaimed:
        ASSIGNMENT_MOVES.labels("reclaimed").inc(len(reg.reclaimed))
    log.info(
        "worker.registered",
        worker=req.worker_id,
        capacity=req.capacity,
        incarnation=reg.incarnation,
        kept=len(reg.assignments),
        reclaimed=len(reg.reclaimed),
    )
    return reg


@dataclass
class HeartbeatOutcome:
    """What a heartbeat changed, for the reply, the logs and the control loop."""

    assignments: list[Assignment]
    adopted: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    handed_off: list[int] = field(default_factory=list)
    #: The worker id holds a credential and the heartbeat did not present it: nothing
    #: changed.
    credential_refused: bool = False


async def heartbeat(
    db: Database, worker_id: str, req: HeartbeatRequest, credential_sha256: str | None
) -> HeartbeatOutcome | None:
    """Record a heartbeat; ``None`` when the worker is unknown or gone (→ register again).

    The worker's credential (its digest) is checked in the same round trip; a refusal
    changes nothing and comes back as ``credential_refused``.
    """
    metrics = {k: v for k, v in (req.metrics or {}).items() if k in WORKER_METRICS}
    meta = {
        "streams": [s.model_dump(exclude_none=True) for s in req.streams],
        "metrics": metrics,
    }
    params = {
        "id": worker_id,
        "credential": credential_sha256,
        "sids": [s.stream_id for s in req.streams],
        "epochs": [s.epoch for s in req.streams],
        "statuses": [s.status for s in req.streams],
        "errors": [s.error for s in req.streams],
        "meta": meta,
    }
    result = await db.fetchval("ownership_heartbeat", params)
    HEARTBEATS.inc()
    if result is None:
        return None
    if result.get("credential_refused"):
        return HeartbeatOutcome(assignments=[], credential_refused=True)
    outcome = HeartbeatOutcome(
        assignments=[Assignment(**a) for a in result["assignments"]],
        adopted=list(result["adopted"]),
        refused=list(result["refused"]),
        handed_off=list(result["handed_off"]),
    )
    REPORTED.record(worker_id, metrics)
    if outcome.handed_off:
        ASSIGNMENT_MOVES.labels("handoff").inc(len(outcome.handed_off))
        log.info("assignment.handed_off", worker=worker_id, streams=outcome.handed_off)
    if outcome.adopted:
        ASSIGNMENT_MOVES.labels("adopted").inc(len(outcome.adopted))
        log.info("assignment.adopted", worker=worker_id, streams=outcome.adopted)
    if outcome.refused:
        log.warning("assignment.refused", worker=worker_id, streams=outcome.refused)
    return outcome


async def deregister(db: Database, worker_id: str) -> list[int] | None:
    """Graceful leave: the worker's streams are free at once. ``None`` if unknown."""
    released = await db.fetchval("ownership_deregister", {"id": worker_id})
    REPORTED.forget(worker_id)
    if released is None:
        return None
    ASSIGNMENT_MOVES.labels("leave").inc(len(released))
    log.info("worker.deregistered", worker=worker_id, released=len(released))
    return [int(s) for s in released]


# -- the leader's tick ---------------------------------------------------------------


async def expire_workers(
    db: Database, *, lease_s: float, inactive_s: float
) -> tuple[list[str], list[str]]:
    """Silent workers become suspect (lease) or inactive; returns (suspect, inactive)."""
    result = await db.fetchval(
        "ownership_expire_workers", {"lease_s": lease_s, "inactive_s": inactive_s}
    )
    suspect, inactive = list(result["suspect"]), list(result["inactive"])
    for wid in suspect:
        log.warning("worker.suspect", worker=wid, lease_s=lease_s)
    for wid in inactive:
        REPORTED.forget(wid)
        log.warning("worker.inactive", worker=wid)
    return suspect, inactive


def _cas(row: Row, kind: str, to: str | None) -> dict[str, Any]:
    return {
        "sid": row["stream_id"],
        "epoch": row["epoch"],
        "old_state": row["state"],
        "old_worker": row["worker_id"],
        "kind": kind,
        "to": to,
    }


async def finish_handoffs(
    db: Database, rows: Sequence[Row], live: set[str], *, overdue: bool = True
) -> list[int]:
    """Complete revokes whose old owner is gone or (``overdue``) late (revoke, then assign)."""
    due = [
        r
        for r in rows
        if r["state"] == "revoking"
        and (r["worker_id"] not in live or (overdue and r["revoke_overdue"]))
    ]
    if not due:
        return []

    async def fn(tx: Tx) -> list[int]:
        done = []
        for r in due:
            nxt = r["next_worker_id"] if r["next_worker_id"] in live else None
            if await tx.fetchval("ownership_move", _cas(r, "complete", nxt)):
                done.append(int(r["stream_id"]))
        if done:
            await audit(tx, "assignment.handoff_forced", "", streams=done)
        return done

    completed: list[int] = await db.run("ownership_finish_handoffs", fn)
    if completed:
        ASSIGNMENT_MOVES.labels("handoff_forced").inc(len(completed))
        log.info("assignment.handoff_forced", streams=completed)
    return completed


def _kind(row: Row, move: Move) -> str:
    if row["state"] == "revoking":
        return "redirect"  # in flight: only the destination changes
    if move.from_worker is None:
        return "assign"  # unassigned, or its owner is gone (lease expired)
    return "revoke"  # live owner: it lets go first; the new owner gets it after


async def apply_moves(
    db: Database, moves: Sequence[Move], by_sid: dict[int, Row], *, per_tx: int
) -> tuple[int, int]:
    """Apply the balancer's plan, ``per_tx`` moves a transaction; (applied, conflicts).

    A move whose row changed since the snapshot is a conflict and is left for the
    next tick's plan.
    """
    applied = conflicts = 0
    for start in range(0, len(moves), per_tx):
        chunk = sorted(moves[start : start + per_tx], key=lambda m: m.stream_id)

        async def fn(tx: Tx, chunk: list[Move] = chunk) -> tuple[int, int]:
            ok = bad = 0
            for m in chunk:
                row = by_sid[m.stream_id]
                if await tx.fetchval("ownership_move", _cas(row, _kind(row, m), m.to_worker)):
                    ok += 1
                else:
                    bad += 1
            await audit(
                tx,
                "assignment.rebalanced",
                "",
                moves=[[m.stream_id, m.from_worker, m.to_worker, m.reason] for m in chunk[:200]],
                count=len(chunk),
            )
            return ok, bad

        ok, bad = await db.run("ownership_apply_moves", fn)
        applied += ok
        conflicts += bad
    reasons = Counter(m.reason for m in moves)
    for reason, n in reasons.items():
        ASSIGNMENT_MOVES.labels(reason).inc(n)
    log.info(
        "rebalance.applied",
        moves=len(moves),
        applied=applied,
        conflicts=conflicts,
        reasons=dict(reasons),
    )
    return applied, conflicts
