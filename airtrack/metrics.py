"""Prometheus metrics of airtrack, defined once (R6.4).

Everything registers in the default registry so ``/metrics`` exposes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram

_LAT = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

DB_QUERY_SECONDS = Histogram(
    "airtrack_db_query_seconds",
    "Database transaction latency by query name",
    ["query"],
    buckets=_LAT,
)
DB_RETRIES = Counter(
    "airtrack_db_retries_total",
    "Database retries by query name and SQLSTATE",
    ["query", "sqlstate"],
)
DB_FAILURES = Counter(
    "airtrack_db_failures_total",
    "Database failures by query name and SQLSTATE",
    ["query", "sqlstate"],
)
BREAKER_STATE = Gauge(
    "airtrack_breaker_open", "1 while a circuit breaker is open or half-open", ["breaker"]
)
HTTP_SECONDS = Histogram(
    "airtrack_http_request_seconds",
    "API request latency by route",
    ["method", "route", "status"],
    buckets=_LAT,
)
HEARTBEATS = Counter("airtrack_heartbeats_total", "Heartbeats received")
ASSIGNMENT_MOVES = Counter(
    "airtrack_assignment_moves_total", "Assignment changes by reason", ["reason"]
)
STREAMS_PER_WORKER = Gauge("airtrack_worker_streams", "Streams assigned per worker", ["worker"])
PLAYS = Counter("airtrack_plays_total", "Plays received by result", ["status"])
TITLES = Counter("airtrack_titles_total", "Stream titles received by result", ["status"])
ARCHIVE = Counter(
    "airtrack_archive_segments_total", "Archive segments received by result", ["status"]
)
CLIPS = Counter("airtrack_clips_total", "Proof clips received by result", ["status"])
BACKFILL_PLAYS = Counter(
    "airtrack_backfill_plays_total", "Airings found in the archive by result", ["status"]
)
RECOVERY_MODE = Gauge("airtrack_recovery_mode", "1 while recovery mode is on")
IS_LEADER = Gauge("airtrack_is_leader", "1 on the replica that runs the control loop")
WORKER_REPORTED = Gauge(
    "airtrack_worker_reported", "Metrics workers report in heartbeats", ["worker", "metric"]
)


class WorkerSeries:
    """The per-worker series of a gauge, bounded: known names only, dropped when a worker goes.

    Every label set stays in a Prometheus registry until removed, so a worker that
    left (or an id that only ever registered) must not leave its series behind.
    """

    def __init__(
        self, gauge: Gauge, names: Iterable[str], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.gauge = gauge
        self.names = frozenset(names)
        self.clock = clock
        self._seen: dict[str, tuple[float, set[str]]] = {}
        self._lock = threading.Lock()
        self._pruned = clock()

    def record(self, worker: str, values: Mapping[str, float]) -> None:
        """Record ``worker``'s values; names outside the known set are ignored."""
        kept = {k: v for k, v in values.items() if k in self.names}
        with self._lock:
            _, had = self._seen.get(worker, (0.0, set()))
            for name in had - kept.keys():
                self.gauge.remove(worker, name)
            for name, value in kept.items():
                self.gauge.labels(worker, name).set(value)
            self._seen[worker] = (self.clock(), set(kept))

    def forget(self, worker: str) -> None:
        """Drop every series of ``worker`` (it left)."""
        with self._lock:
            _, had = self._seen.pop(worker, (0.0, set()))
            for name in had:
                self.gauge.remove(worker, name)

    def prune(self, max_age_s: float, *, every_s: float = 0.0) -> list[str]:
        """Forget workers not heard from for ``max_age_s``; returns their ids.

        ``every_s``: scan at most that often (callers on a hot path pass a second).
        """
        now = self.clock()
        if now - self._pruned < every_s:
            return []
        self._pruned = now
        cutoff = now - max_age_s
        with self._lock:
            old = [w for w, (at, _) in self._seen.items() if at < cutoff]
        for w in old:
            self.forget(w)
        return old

    def workers(self) -> set[str]:
        with self._lock:
            return set(self._seen)


# --- operations -------------------------------------------------------------
COMM_FAILURES = Counter(
    "airtrack_comm_failures_total",
    "Communication failures counted by the failure ledger, by peer type and kind",
    ["peer_type", "kind"],
)
ALERTS_RAISED = Counter("airtrack_alerts_raised_total", "Alerts opened", ["severity", "kind"])
WEBHOOK_DELIVERIES = Counter(
    "airtrack_alert_webhook_total", "Alert webhook notifications by outcome", ["outcome"]
)
ERROR_PATTERNS = Counter(
    "airtrack_error_patterns_total", "Error occurrences recorded as patterns, by source", ["source"]
)
RECOGNITION_LATENCY = Histogram(
    "airtrack_recognition_latency_seconds",
    "Delay from a play's start on air to its report reaching the orchestrator",
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
STREAM_LAG = Histogram(
    "airtrack_stream_lag_seconds",
    "Capture lag workers report per stream in heartbeats",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
OUTBOX_DEPTH = Gauge(
    "airtrack_outbox_depth", "Plays waiting in worker outboxes, as reported in heartbeats"
)
TITLES_LIMITED = Counter(
    "airtrack_titles_limited",
    "Station title changes a worker dropped: past title_changes_per_min for their stream",
)
HEALTH_CHECK_OK = Gauge(
    "airtrack_health_check_ok", "1 when the last health check passed", ["check"]
)
EVENT_DELIVERIES = Counter(
    "airtrack_event_deliveries_total",
    "Webhook deliveries of integration events by outcome",
    ["outcome"],
)
STREAM_UP = Gauge(
    "airtrack_stream_up",
    "1 while the station is up, 0 while down (unmonitored: absent)",
    ["stream"],
)
STREAM_UPTIME = Gauge(
    "airtrack_stream_uptime_ratio",
    "Share of the monitored time the station was up",
    ["stream", "window"],
)
STREAM_LISTENERS = Gauge(
    "airtrack_stream_listeners",
    "Listeners of the station at the last poll of its stats_url (absent: no figure)",
    ["stream"],
)
