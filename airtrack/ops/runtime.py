"""The operations runtime of one replica: failure accounting, alerts, recovery mode, patterns.

Route handlers call the synchronous hooks (:meth:`Operations.failure`,
:meth:`~Operations.success`, :meth:`~Operations.error_seen`, …); they only
touch memory, so a handler never waits on them and they work while the
database is down. :meth:`Operations.step` — run by a background task every
control tick, and woken by the control loop's ``on_tick`` — does the I/O:

* on the leader: counts missed heartbeats (each missed interval once), folds
  in the failures other replicas recorded as events, applies the ledger's
  decisions (alerts, recovery mode) and persists recovery mode in
  ``control_state`` so that a new leader continues it;
* on every replica: writes pending events and error patterns, and (followers)
  refreshes the recovery flag that heartbeat replies carry.

Writes that fail stay queued (bounded) and are retried at the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airtrack.db import Database, Tx
from airtrack.errors import DatabaseError
from airtrack.logging import get_logger
from airtrack.metrics import (
    COMM_FAILURES,
    ERROR_PATTERNS,
    OUTBOX_DEPTH,
    RECOGNITION_LATENCY,
    RECOVERY_MODE,
    STREAM_LAG,
)
from airtrack.protocol import HeartbeatRequest, PlayIn, PlayResult
from airtrack.settings import Settings

from .alerts import WebhookSender
from .ledger import Decision, FailureLedger, RecoveryOn
from .outcomes import RECOVERY_KEY, Outcomes
from .signatures import signature

log = get_logger("airtrack.ops")


@dataclass
class _Pattern:
    source: str
    count: int
    sample: str


@dataclass
class RecoveryState:
    on: bool = False
    since: float | None = None
    reason: str = ""


@dataclass
class Operations:
    """See the module docstring. ``leader()`` says whether this replica runs the control loop."""

    db: Database
    settings: Settings
    replica_id: str
    leader: Callable[[], bool]
    webhook: WebhookSender | None = None
    clock: Callable[[], float] = time.time
    ledger: FailureLedger = field(init=False)
    _outcomes: Outcomes = field(init=False)
    shared: RecoveryState = field(default_factory=RecoveryState)
    _events: deque[tuple[str, str, dict[str, Any]]] = field(default_factory=deque)
    _patterns: dict[str, _Pattern] = field(default_factory=dict)
    _decisions: deque[Decision] = field(default_factory=deque)
    _missed: dict[str, int] = field(default_factory=dict)
    _stream_errors: dict[int, str] = field(default_factory=dict)
    _outbox: dict[str, float] = field(default_factory=dict)
    _was_leader: bool = False
    _last_event_id: int | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        s = self.settings
        self.ledger = FailureLedger(
            consecutive_limit=s.alert_consecutive_failures,
            window_limit=s.recovery_failures_per_min,
            quiet_s=s.recovery_quiet_s,
            window_s=s.failure_window_s,
            source_limit=s.recovery_failures_per_worker,
        )
        self._outcomes = Outcomes(
            self.db, s, replica_id=self.replica_id, ledger=self.ledger, webhook=self.webhook
        )
        RECOVERY_MODE.set(0)

    # -- hooks for route handlers and the control loop (memory only) -------------

    def recovery(self) -> bool:
        """Recovery mode as this replica knows it (the leader decides)."""
        return self.ledger.recovery if self.leader() else self.shared.on

    def recovery_since(self) -> float | None:
        return self.ledger.recovery_since if self.leader() else self.shared.since

    def failure(
        self,
        peer: str,
        kind: str,
        error: str = "",
        *,
        in_window: bool = True,
        record: bool = True,
        source: str | None = None,
    ) -> None:
        """One failed exchange with ``peer`` (``worker:<id>``, ``database``, ``stream:<id>``).

        ``source``: the worker to blame, whose share of the recovery window is bounded.
        """
        now = self.clock()
        COMM_FAILURES.labels(peer.split(":", 1)[0], kind).inc()
        decisions = self.ledger.failure(peer, now, kind, error, window=in_window, source=source)
        if not self.leader():
            # Followers raise peer alerts; only the leader decides recovery mode.
            decisions = [d for d in decisions if not isinstance(d, RecoveryOn)]
            self.ledger.recovery_since = None
        self._decisions.extend(decisions)
        if record:
            detail = {"kind": kind, "error": error[:500], "replica": self.replica_id}
            self._event("comm.failure", peer, detail)
        if error:
            self.error_seen(kind, error)
        if decisions:
            self._wake.set()

    def success(self, peer: str) -> None:
        decisions = self.ledger.success(peer)
        if decisions:
            self._decisions.extend(decisions)
            self._wake.set()

    def error_seen(self, source: str, message: str) -> None:
        """Count one occurrence of an error message under its signature (R4.4)."""
        sig = signature(message)
        ERROR_PATTERNS.labels(source).inc()
        pattern = self._patterns.get(sig)
        if pattern is None:
            if len(self._patterns) >= self.settings.ops_pending_max:
                return
            self._patterns[sig] = _Pattern(source, 1, message[:1000])
        else:
            pattern.count += 1

    def observe_heartbeat(self, worker_id: str, req: HeartbeatRequest) -> None:
        """A good heartbeat: the peer is fine; note stream errors, lag and outbox depth."""
        self.success(f"worker:{worker_id}")
        self.success("database")
        budget = self.settings.stream_errors_per_heartbeat
        for s in req.streams:
            if s.lag_s is not None:
                STREAM_LAG.observe(s.lag_s)
            error = s.error or ("failed" if s.status == "failed" else None)
            if error is None:
                self._stream_errors.pop(s.stream_id, None)
            elif self._stream_errors.get(s.stream_id) != error and budget > 0:
                # A new error on this stream (not the same one repeated each heartbeat);
                # one heartbeat adds a bounded number, whatever the worker sends.
                budget -= 1
                self._stream_errors[s.stream_id] = error
                self.error_seen("stream", error)
        if req.metrics and "outbox_pending" in req.metrics:
            self._outbox[worker_id] = float(req.metrics["outbox_pending"])
            OUTBOX_DEPTH.set(sum(self._outbox.values()))

    def observe_plays(
        self, plays: Iterable[PlayIn], results: Iterable[PlayResult], worker: str
    ) -> None:
        """Recognition latency of stored plays."""
        now = datetime.now(UTC)
        status = {r.key: r.status for r in results}
        for p in plays:
            if status.get(p.key) == "stored":
                RECOGNITION_LATENCY.observe(max(0.0, (now - p.started_at).total_seconds()))
                self.success(f"stream:{p.stream_id}")

    def observe_stale(self, kind: str, worker: str, stream_id: int, epoch: int) -> None:
        """A fenced batch refused as stale (plays or titles alike) is a failed write.

        The failure is ``worker``'s: it counts towards that worker's alert, and only up to
        ``recovery_failures_per_worker`` towards the cluster's recovery window.
        """
        self.failure(
            f"worker:{worker}",
            f"{kind}s.stale",
            f"stale epoch {epoch} for stream {stream_id}",
            source=worker,
        )

    def left(self, worker_id: str) -> None:
        """A graceful leave is not a failure: close the worker's account."""
        self._missed.pop(worker_id, None)
        self._outbox.pop(worker_id, None)
        self.success(f"worker:{worker_id}")

    def on_tick(self, _report: Any = None) -> None:
        """ControlLoop ``on_tick``: run a step soon (never blocks the tick)."""
        self._wake.set()

    # -- the step (I/O) ----------------------------------------------------------

    async def step(self) -> None:
        """One round of accounting and persistence; never raises on DB trouble."""
        leading = self.leader()
        try:
            if leading:
                if not self._was_leader:
                    await self._take_over()
                await self._scan_heartbeats()
                await self._ingest_remote()
                self._decisions.extend(self.ledger.poll(self.clock()))
            else:
                await self._refresh_shared()
            self._was_leader = leading
            await self._apply_decisions()
            await self._flush()
        except DatabaseError as exc:
            self.failure("database", "db." + type(exc).__name__, str(exc), record=True)
            log.warning("ops.step_failed", error=str(exc), leader=leading)
        else:
            self.success("database")
        RECOVERY_MODE.set(1 if self.recovery() else 0)

    async def _take_over(self) -> None:
        """Becoming leader: continue a persisted recovery mode; read failures from now on."""
        row = await self.db.fetchone("control_get", {"key": RECOVERY_KEY})
        value = row["value"] if row else {}
        if value.get("on") and not self.ledger.recovery:
            self.ledger.resume_recovery(float(value.get("since") or self.clock()), self.clock())
            log.warning("recovery.resumed", since=value.get("since"), by=self.replica_id)
        self._last_event_id = int(await self.db.fetchval("ops_last_audit_id") or 0)

    async def _scan_heartbeats(self) -> None:
        """Count each missed heartbeat interval once per worker (R4.2)."""
        interval = self.settings.heartbeat_interval_s
        slack = interval * self.settings.heartbeat_slack
        rows = await self.db.fetch("ops_worker_silence")
        seen = set()
        for r in rows:
            wid = str(r["id"])
            seen.add(wid)
            silent = float(r["silent_s"] or 0.0)
            missed = max(0, math.floor((silent - slack) / interval))
            counted = self._missed.get(wid, 0)
            if missed > counted:
                for n in range(counted + 1, missed + 1):
                    # Once the lease has expired the system has acted: further silence
                    # still counts towards the worker's alert, not towards recovery mode.
                    self.failure(
                        f"worker:{wid}",
                        "heartbeat.missed",
                        f"no heartbeat for {silent:.1f} s (interval {interval:g} s)",
                        in_window=r["state"] == "active",
                        record=n == missed,
                    )
                self._missed[wid] = missed
            elif missed == 0 and counted:
                self._missed.pop(wid, None)
                self.success(f"worker:{wid}")
        for wid in list(self._missed):
            if wid not in seen:  # inactive or draining: no longer expected to beat
                del self._missed[wid]

    async def _ingest_remote(self) -> None:
        """Failures that other replicas saw count in the leader's window too."""
        if self._last_event_id is None:
            self._last_event_id = int(await self.db.fetchval("ops_last_audit_id") or 0)
        rows = await self.db.fetch(
            "ops_failures_since", {"after": self._last_event_id, "replica": self.replica_id}
        )
        now = self.clock()
        for r in rows:
            self._last_event_id = max(self._last_event_id, int(r["id"]))
            self._decisions.extend(self.ledger.remote_failure(now))

    async def _refresh_shared(self) -> None:
        row = await self.db.fetchone("control_get", {"key": RECOVERY_KEY})
        value = row["value"] if row else {}
        self.shared = RecoveryState(
            bool(value.get("on")), value.get("since"), str(value.get("reason", ""))
        )

    async def _apply_decisions(self) -> None:
        while self._decisions:
            await self._outcomes.apply(self._decisions[0])
            self._decisions.popleft()

    def _event(self, kind: str, subject: str, detail: dict[str, Any]) -> None:
        if len(self._events) >= self.settings.ops_pending_max:
            self._events.popleft()
        self._events.append((kind, subject, detail))

    async def _flush(self) -> None:
        events = list(self._events)
        patterns = {k: (p.source, p.count, p.sample) for k, p in self._patterns.items()}
        if not events and not patterns:
            return

        async def fn(tx: Tx) -> None:
            if events:
                await tx.execute(
                    "ops_audit_insert",
                    {
                        "kinds": [e[0] for e in events],
                        "subjects": [e[1] for e in events],
                        "details": [e[2] for e in events],
                    },
                )
            for sig in sorted(patterns):
                source, count, sample = patterns[sig]
                await tx.execute(
                    "ops_pattern_upsert",
                    {
                        "signature": sig,
                        "source": source,
                        "count": count,
                        "sample": sample,
                        "max": self.settings.error_patterns_max,
                    },
                )

        await self.db.run("ops_flush", fn)
        for _ in events:
            self._events.popleft()
        for sig, (_, count, _) in patterns.items():
            cur = self._patterns.get(sig)
            if cur is not None:
                cur.count -= count
                if cur.count <= 0:
                    del self._patterns[sig]

    # -- lifecycle -----------------------------------------------------------------

    async def run(self) -> None:
        """Step every control tick (or when woken) until :meth:`close`."""
        period = min(self.settings.control_tick_s, 1.0)
        while not self._stop.is_set():
            await self.step()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=period)

    def start(self) -> None:
        if self.webhook is not None:
            self.webhook.start()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="ops")

    async def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, timeout=5)
            self._task = None
        with contextlib.suppress(Exception):
            await self._flush()
        if self.webhook is not None:
            await self.webhook.stop()
