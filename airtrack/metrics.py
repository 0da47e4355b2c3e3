"""Prometheus metrics of airtrack, defined once (R6.4).

Everything registers in the default registry so ``/metrics`` exposes it.
"""

from __future__ import annotations

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
RECOVERY_MODE = Gauge("airtrack_recovery_mode", "1 while recovery mode is on")
IS_LEADER = Gauge("airtrack_is_leader", "1 on the replica that runs the control loop")
WORKER_REPORTED = Gauge(
    "airtrack_worker_reported", "Metrics workers report in heartbeats", ["worker", "metric"]
)
