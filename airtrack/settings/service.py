"""Settings of the service: places, tokens, limits, membership, network, database, accounting."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from airtrack.home import default_home


class ServiceSettings(BaseSettings):
    """Where airtrack lives and how its parts talk (see :class:`airtrack.settings.Settings`)."""

    # --- places -----------------------------------------------------------
    home: Path = Field(
        default_factory=default_home,
        description="State folder: embedded database, tokens, worker outboxes and caches.",
    )
    database_url: str | None = Field(
        default=None,
        description="External PostgreSQL URL; unset means the embedded server under HOME/pg.",
    )
    orchestrator_url: str = Field(
        default="http://127.0.0.1:8750",
        description="Where workers and the CLI find the orchestrator API.",
    )
    host: str = Field(default="127.0.0.1", description="Orchestrator listen address.")
    port: int = Field(default=8750, ge=0, le=65535, description="Orchestrator listen port.")
    allow_public_bind: bool = Field(
        default=False,
        description="Allow listening on a non-loopback address with generated default tokens.",
    )

    # --- tokens -----------------------------------------------------------
    admin_token: str | None = Field(
        default=None, description="Admin API token (all routes); generated under HOME if unset."
    )
    worker_token: str | None = Field(
        default=None, description="Worker API token (worker routes); generated under HOME if unset."
    )
    public_token_min_length: int = Field(
        default=32,
        ge=16,
        description="Shortest token accepted on a non-loopback bind (`airtrack tokens new` "
        "prints 43-character ones).",
    )

    # --- what a worker may send (docs/security.md) ------------------------
    worker_capacity_max: int = Field(
        default=1000, ge=1, description="Largest capacity a worker may register with."
    )
    worker_new_ids_per_min: int = Field(
        default=60,
        ge=1,
        description="Registrations of worker ids the store does not know yet, per minute and "
        "replica; more get 429.",
    )
    play_max_future_s: float = Field(
        default=300.0,
        ge=0,
        description="A play may start or end at most this far after the orchestrator's clock.",
    )
    play_max_age_s: float = Field(
        default=30 * 86400.0,
        gt=0,
        description="A play may start at most this long before the orchestrator's clock "
        "(an outbox kept through a long outage).",
    )
    play_max_duration_s: float = Field(
        default=4 * 3600.0, gt=0, description="Longest play accepted (ended_at − started_at)."
    )
    stream_errors_per_heartbeat: int = Field(
        default=20,
        ge=0,
        description="Stream error messages counted as error patterns from one heartbeat.",
    )
    error_patterns_max: int = Field(
        default=1000,
        ge=1,
        description="Distinct error signatures stored; later new ones count under one "
        "overflow pattern.",
    )
    stream_allow_link_local: bool = Field(
        default=False,
        description="Allow stream URLs on link-local addresses (169.254.0.0/16, fe80::/10, "
        "cloud metadata).",
    )
    stream_allow_private: bool = Field(
        default=True,
        description="Allow stream URLs on loopback and private addresses (a local Icecast).",
    )

    # --- membership and balance (R1.x, R4.1) ------------------------------
    heartbeat_interval_s: float = Field(
        default=10.0, gt=0, description="Worker heartbeat period (seconds)."
    )
    lease_ttl_s: float = Field(
        default=30.0,
        gt=0,
        description="Silence after which a worker is suspect and its streams move (R1.2).",
    )
    inactive_after_s: float = Field(
        default=300.0, gt=0, description="Silence after which a worker is inactive (R4.1)."
    )
    control_tick_s: float = Field(
        default=2.0,
        gt=0,
        description="Leader control-loop period; must not exceed the heartbeat interval (R1.1).",
    )
    rebalance_threshold: float = Field(
        default=0.20,
        ge=0,
        le=1,
        description="Relative load gap between workers that triggers rebalancing (R1.3).",
    )
    start_grace_s: float = Field(
        default=20.0,
        ge=0,
        description="A stream assigned less than this long ago is not moved voluntarily.",
    )
    leader_grace_leases: float = Field(
        default=1.0,
        ge=1,
        description="A replica that has just become leader (a start, a restart, a takeover) "
        "expires no lease for this many LEASE_TTL_S: it did not hear the heartbeats sent "
        "before, so an orchestrator outage shorter than that costs no worker its streams.",
    )

    # --- network (R5.3, R5.4) ---------------------------------------------
    http_timeout_s: float = Field(default=30.0, gt=0, description="Network timeouts (R5.3).")
    breaker_failures: int = Field(
        default=5, ge=1, description="Consecutive failures that open a circuit breaker (R5.4)."
    )
    breaker_open_s: float = Field(
        default=30.0, gt=0, description="How long an open breaker fails fast before probing."
    )
    worker_breaker_open_s: float | None = Field(
        default=None,
        gt=0,
        description="How long a worker's breaker to the orchestrator fails fast before "
        "probing; at most half of LEASE_TTL_S. Unset: BREAKER_OPEN_S, capped at a quarter of "
        "LEASE_TTL_S. Heartbeats probe through an open breaker anyway.",
    )
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest accepted HTTP request body."
    )

    # --- database (R2.x, R5.1) --------------------------------------------
    tx_max_s: float = Field(
        default=30.0, gt=0, description="Cap on any transaction; older ones are cancelled (R2.2)."
    )
    db_lock_timeout_s: float = Field(
        default=5.0, gt=0, description="Lock wait before the statement fails and is retried (R2.1)."
    )
    db_idle_in_tx_timeout_s: float = Field(
        default=10.0, gt=0, description="A session idle inside a transaction this long is ended."
    )
    db_retry_attempts: int = Field(
        default=5, ge=1, description="Attempts for lock-contention errors (R2.3)."
    )
    db_reconnect_attempts: int = Field(
        default=3, ge=1, description="Reconnect attempts after a lost connection (R5.1)."
    )
    db_retry_base_s: float = Field(
        default=0.1, gt=0, description="First backoff delay; doubles each attempt, with jitter."
    )
    db_retry_max_s: float = Field(default=5.0, gt=0, description="Largest single backoff delay.")
    db_pool_min: int = Field(default=1, ge=0, description="Connections kept open in the pool.")
    db_pool_max: int = Field(default=10, ge=1, description="Most connections in the pool.")

    # --- failure accounting (R4.2, R4.3) ----------------------------------
    alert_consecutive_failures: int = Field(
        default=5, ge=1, description="More consecutive failures for one peer → critical alert."
    )
    recovery_failures_per_min: int = Field(
        default=10, ge=1, description="More failures in a sliding minute → recovery mode (R4.3)."
    )
    recovery_failures_per_worker: int = Field(
        default=3,
        ge=1,
        description="Most failures one worker's stale plays add to that sliding minute, so "
        "one bad worker cannot turn recovery mode on alone.",
    )
    recovery_quiet_s: float = Field(
        default=120.0, gt=0, description="Quiet time after which recovery mode ends by itself."
    )
    recovery_lease_factor: float = Field(
        default=2.0, ge=1, description="Lease multiplier while in recovery mode."
    )
    alert_webhook: str | None = Field(default=None, description="Alert receiver URL (JSON POST).")
    alert_webhook_attempts: int = Field(
        default=5, ge=1, description="Delivery attempts per alert before it is dropped."
    )
    alert_webhook_queue: int = Field(
        default=200, ge=1, description="Alerts queued for the webhook; older ones drop first."
    )
