"""Every tunable of airtrack, in one place.

Values come from command-line flags (passed as keyword overrides), then
``AIRTRACK_*`` environment variables, then the defaults below. Each default
that a user requirement fixes names that requirement (R-numbers from
docs/requirements.md). Invalid values fail at start with one line that names
the setting (:func:`load_settings` raises :class:`airtrack.errors.ConfigError`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from airtrack.errors import ConfigError

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _default_home() -> Path:
    return Path(os.path.expanduser("~/.local/share/airtrack"))


def default_demo_home() -> Path:
    """Where ``airtrack demo`` keeps its state unless told otherwise: apart from a real home."""
    return Path(os.path.expanduser("~/.local/share/airtrack-demo"))


class Settings(BaseSettings):
    """airtrack settings; environment variable = ``AIRTRACK_`` + upper-case name."""

    model_config = SettingsConfigDict(
        env_prefix="AIRTRACK_",
        extra="ignore",
        validate_default=True,
        frozen=True,
    )

    # --- places -----------------------------------------------------------
    home: Path = Field(
        default_factory=_default_home,
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

    # --- network (R5.3, R5.4) ---------------------------------------------
    http_timeout_s: float = Field(default=30.0, gt=0, description="Network timeouts (R5.3).")
    breaker_failures: int = Field(
        default=5, ge=1, description="Consecutive failures that open a circuit breaker (R5.4)."
    )
    breaker_open_s: float = Field(
        default=30.0, gt=0, description="How long an open breaker fails fast before probing."
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
    ops_pending_max: int = Field(
        default=5000,
        ge=1,
        description="Events and error-pattern updates kept in memory while the DB is down.",
    )
    heartbeat_slack: float = Field(
        default=0.5,
        ge=0,
        description="A heartbeat counts as missed once silence exceeds interval × (1 + this).",
    )

    diagnose_stream_error_s: float = Field(
        default=60.0, ge=0, description="A stream in error this long becomes a finding."
    )
    diagnose_recovery_long_s: float = Field(
        default=600.0, gt=0, description="Recovery mode on this long becomes a finding."
    )
    diagnose_outbox_backlog: int = Field(
        default=500, ge=1, description="A worker with more queued plays than this is a finding."
    )
    diagnose_top_patterns: int = Field(
        default=10, ge=1, description="Error patterns listed by diagnostics."
    )

    # --- orchestrator internals -------------------------------------------
    play_continuation_gap_s: float = Field(
        default=10.0,
        ge=0,
        description="Reports of one track on one stream this close together are one airing.",
    )
    play_overlap_max_s: float = Field(
        default=5.0,
        ge=0,
        description="Most a merged play may run into the next airing (a crossfade); "
        "a handoff report past it keeps the stored end.",
    )
    rebalance_moves_per_tx: int = Field(
        default=500, ge=1, description="Assignment moves the leader applies per transaction."
    )
    catalog_watch_s: float = Field(
        default=5.0, gt=0, description="How often the orchestrator checks the catalog revision."
    )
    leader_db_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout of each call on the leader's lock connection."
    )
    leader_keepalive_s: float = Field(
        default=5.0,
        gt=0,
        description="TCP keepalive idle time of the leader's connection (a dead server is "
        "noticed within about twice this).",
    )
    health_check_timeout_s: float = Field(
        default=2.5, gt=0, description="Each health check answers within this, even if stuck."
    )
    failure_window_s: float = Field(
        default=60.0, gt=0, description="Sliding window of the recovery-mode count (R4.3)."
    )

    # --- reports ----------------------------------------------------------
    report_tx_max_s: float = Field(
        default=900.0,
        gt=0,
        description="Cap on one report export's read transaction (a 1M-row export runs "
        "past tx_max_s).",
    )
    report_batch_rows: int = Field(
        default=5000, ge=1, description="Rows fetched per round trip while streaming a report."
    )
    report_play_max_s: float = Field(
        default=86400.0,
        gt=0,
        description="Longest play a report range can cut at its start (bounds the index scan).",
    )

    # --- worker -----------------------------------------------------------
    worker_id: str | None = Field(
        default=None, description="Worker id; default: host name + a stable suffix under HOME."
    )
    capacity: int = Field(default=50, ge=1, description="Streams one worker may run.")
    outbox_batch: int = Field(default=100, ge=1, description="Plays sent per outbox batch.")
    reconcile_attempts: int = Field(
        default=3, ge=1, description="Reconcile attempts before forced re-registration (R3.1)."
    )
    stream_read_timeout_s: float = Field(
        default=15.0, gt=0, description="A stream socket silent this long is a stall."
    )
    silence_fail_s: float = Field(
        default=300.0, gt=0, description="A stream silent this long is marked failed."
    )
    stream_start_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A stream connection that decodes no audio this long (from the connect, or "
        "since its last audio) fails as starved: a trickle, or a body that is not audio.",
    )
    stream_failover_after: int = Field(
        default=3,
        ge=1,
        description="Consecutive failures on a stream URL before the worker tries the next "
        "backup URL.",
    )
    stream_primary_retry_s: float = Field(
        default=300.0,
        gt=0,
        description="While on a backup URL, try the main URL again this often (seconds).",
    )

    # --- imports ----------------------------------------------------------
    import_max_bytes: int = Field(
        default=10_485_760,
        ge=1024,
        description="Largest metadata or stations file `catalog import-metadata` and "
        "`streams import` accept.",
    )

    # --- demo -------------------------------------------------------------
    demo_stations_port: int = Field(
        default=8760,
        ge=0,
        le=65535,
        description="Port of `airtrack demo`'s station server; kept across runs so the "
        "streams' URLs stay valid (another port is used, and the URLs updated, when busy).",
    )

    # --- logging ----------------------------------------------------------
    log_level: LogLevel = Field(default="INFO", description="Log level.")
    log_json: bool | None = Field(
        default=None, description="JSON logs; default: JSON unless stderr is a terminal."
    )

    @field_validator("orchestrator_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        # Any other scheme makes every request fail as "unreachable": a worker would run
        # in local mode for ever instead of saying its setting is wrong.
        parts = urlsplit(v.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, got {v!r}")
        return v.strip()

    @model_validator(mode="after")
    def _check_relations(self) -> Settings:
        if self.lease_ttl_s < 2 * self.heartbeat_interval_s:
            raise ValueError(
                f"lease_ttl_s ({self.lease_ttl_s}) must be at least two heartbeat intervals "
                f"(2 × heartbeat_interval_s = {2 * self.heartbeat_interval_s})"
            )
        if self.inactive_after_s < self.lease_ttl_s:
            raise ValueError(
                f"inactive_after_s ({self.inactive_after_s}) must not be shorter than "
                f"lease_ttl_s ({self.lease_ttl_s})"
            )
        if self.control_tick_s > self.heartbeat_interval_s:
            raise ValueError(
                f"control_tick_s ({self.control_tick_s}) must not exceed "
                f"heartbeat_interval_s ({self.heartbeat_interval_s})"
            )
        if self.recovery_failures_per_worker > self.recovery_failures_per_min:
            raise ValueError(
                "recovery_failures_per_worker must not exceed recovery_failures_per_min"
            )
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("db_pool_min must not exceed db_pool_max")
        return self

    @property
    def pg_dir(self) -> Path:
        return self.home / "pg"

    # -- worker and recognition policy (issue 13) ---------------------------
    # The worker's HTTP client to the orchestrator: one timeout per phase (httpx-style);
    # unset ones fall back to HTTP_TIMEOUT_S (R5.3). Breakers use BREAKER_* above.
    worker_connect_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Worker → orchestrator connect timeout; unset: HTTP_TIMEOUT_S.",
    )
    worker_read_timeout_s: float | None = Field(
        default=None, gt=0, description="Worker → orchestrator read timeout; unset: HTTP_TIMEOUT_S."
    )
    worker_write_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Worker → orchestrator write timeout; unset: HTTP_TIMEOUT_S.",
    )
    worker_pool_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description="Wait for a free connection to the orchestrator; unset: HTTP_TIMEOUT_S.",
    )
    worker_call_attempts: int = Field(
        default=3, ge=1, description="Attempts per worker → orchestrator call (network/5xx errors)."
    )
    worker_retry_base_s: float = Field(
        default=0.2, gt=0, description="First retry delay of a worker call; doubles, with jitter."
    )
    worker_retry_cap_s: float = Field(
        default=5.0, gt=0, description="Largest retry delay of a worker call."
    )
    worker_shutdown_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Budget for a worker's graceful stop: pipelines, outbox flush, deregister.",
    )
    heartbeat_retry_base_s: float = Field(
        default=0.5,
        gt=0,
        description="First delay before retrying a failed register/heartbeat; doubles, jitter.",
    )
    heartbeat_retry_cap_s: float = Field(
        default=30.0,
        gt=0,
        description="Largest delay between register/heartbeat retries (also ≤ the interval).",
    )
    outbox_retry_cap_s: float = Field(
        default=10.0,
        gt=0,
        description="Largest backoff of the outbox sender while the orchestrator is unreachable.",
    )
    outbox_idle_poll_s: float = Field(
        default=1.0, gt=0, description="How often an empty outbox is checked between wake-ups."
    )
    capture_block_s: float = Field(
        default=1.0,
        gt=0,
        le=10,
        description="Audio per captured block: the granularity of lag and silence accounting.",
    )
    icy_metadata: bool = Field(
        default=True,
        description=(
            "Ask Icecast/Shoutcast streams for in-band titles (Icy-MetaData: 1) and report "
            "them for the metadata-check report (issue 11 §3)."
        ),
    )
    metadata_match_threshold: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description=(
            "Fuzzy similarity (0..1) from which a station's 'Artist - Title' confirms the "
            "track airtrack heard; below it, a song title is a mismatch."
        ),
    )
    metadata_max_span_s: float = Field(
        default=900.0,
        gt=0,
        description=(
            "Longest a station title is taken to hold when no next title follows (a stream "
            "that went down): a metadata-only play never lasts longer."
        ),
    )
    metadata_min_span_s: float = Field(
        default=20.0,
        ge=0,
        description=(
            "Shortest title span counted as a metadata-only airing (shorter ones are title "
            "flicker between songs)."
        ),
    )
    silence_rms: float = Field(
        default=1e-4,
        ge=0,
        lt=1,
        description="Block RMS below which a stream counts as silent (1e-4 ≈ −80 dBFS).",
    )
    stream_reconnect_base_s: float = Field(
        default=1.0, gt=0, description="First delay before reconnecting a stream; doubles, jitter."
    )
    stream_reconnect_cap_s: float = Field(
        default=60.0, gt=0, description="Largest delay between stream reconnects."
    )
    stream_fail_after: int = Field(
        default=3,
        ge=1,
        description="Consecutive failed connections after which a stream is failed, not retrying.",
    )
    stream_healthy_after_s: float = Field(
        default=10.0,
        gt=0,
        description="Audio that proves a stream connection good (resets its reconnect backoff).",
    )
    match_threshold: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="Least confidence of a reported play, the same on every station.",
    )
    play_end_gap_s: float = Field(
        default=20.0,
        gt=0,
        description="A play ends after this long without matching audio (talk, crossfade, gap).",
    )
    snapshot_keep_previous: int = Field(
        default=1,
        ge=0,
        description="Older catalog snapshots kept on disk for readers that still have them open.",
    )
    snapshot_build_attempts: int = Field(
        default=3,
        ge=1,
        description="Catalog snapshot builds tried while the catalog keeps changing under them.",
    )
    snapshot_tmp_max_age_s: float = Field(
        default=3600.0,
        gt=0,
        description="A half-written snapshot file older than this is removed as abandoned.",
    )

    @model_validator(mode="after")
    def _check_worker_policy(self) -> Settings:
        for base, cap in (
            ("worker_retry_base_s", "worker_retry_cap_s"),
            ("heartbeat_retry_base_s", "heartbeat_retry_cap_s"),
            ("stream_reconnect_base_s", "stream_reconnect_cap_s"),
        ):
            if getattr(self, base) > getattr(self, cap):
                raise ValueError(
                    f"{base} ({getattr(self, base)}) must not exceed {cap} ({getattr(self, cap)})"
                )
        return self


def load_settings(**overrides: Any) -> Settings:
    """Build settings from overrides (flags) > environment > defaults.

    Overrides whose value is ``None`` are ignored, so unset CLI flags fall
    through to the environment. Raises :class:`ConfigError` with one line
    naming the offending setting.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "settings"
        name = f"AIRTRACK_{loc.upper()}" if loc != "settings" else "settings"
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {name}: {msg}") from None


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting, for the docs."""
    rows = []
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = "~/.local/share/airtrack" if name == "home" else "(computed)"
        else:
            default = "unset" if field.default is None else str(field.default)
        rows.append((f"AIRTRACK_{name.upper()}", default, field.description or ""))
    return rows


def settings_markdown() -> str:
    """The settings table of docs/settings.md (generated, so the docs cannot drift)."""
    lines = [
        "# Settings",
        "",
        "Generated by `airtrack settings --markdown` from `airtrack/settings.py`; a test keeps",
        "this file equal to that output. Flags beat environment variables, which beat defaults.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for env, default, desc in describe_settings():
        lines.append(f"| `{env}` | `{default}` | {desc} |")
    return "\n".join(lines) + "\n"
