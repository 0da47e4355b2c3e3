"""Settings of the worker and the recogniser, and logging."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _phase_timeout(what: str) -> Any:
    """A per-phase timeout of the worker's client: unset, it is HTTP_TIMEOUT_S."""
    return Field(default=None, gt=0, description=f"{what}; unset: HTTP_TIMEOUT_S.")


class WorkerSettings(BaseSettings):
    """How a worker captures, recognises and reports (see :class:`airtrack.settings.Settings`)."""

    # --- worker -----------------------------------------------------------
    worker_id: str | None = Field(
        default=None, description="Worker id; default: host name + a stable suffix under HOME."
    )
    capacity: int = Field(default=50, ge=1, description="Streams one worker may run.")
    outbox_batch: int = Field(default=100, ge=1, description="Plays sent per outbox batch.")
    # --- fingerprint archive (docs/unknown.md) ------------------------------
    archive: bool = Field(
        default=True,
        description="Keep the query prints of everything heard and send them to the archive.",
    )
    archive_segment_s: float = Field(
        default=60.0, ge=5, le=600, description="Stream time per archive segment sent."
    )
    archive_max_bytes_per_s: int = Field(
        default=2000,
        ge=100,
        description="Archive bytes per stream-second; prints beyond it are thinned (counted).",
    )
    archive_outbox_max: int = Field(
        default=20000,
        ge=10,
        description="Archive segments a worker queues while the orchestrator is away; "
        "the oldest beyond it are dropped (counted).",
    )
    # --- proof clips (docs/unknown.md#proof-clips) ----------------------------
    clips: bool = Field(
        default=True,
        description="Cut a short audio clip of each play heard (and of requested stretches) "
        "and upload it as proof.",
    )
    clip_s: float = Field(
        default=10.0, ge=2, le=60, description="Seconds of a play's clip, from its start."
    )
    clip_buffer_s: float = Field(
        default=180.0,
        ge=10,
        le=1800,
        description="Seconds of decoded audio a worker keeps per stream to cut clips from "
        "(16 kB per second: 8 kHz, 16 bit); must cover a play's detection delay plus the clip.",
    )
    clip_request_max_s: float = Field(
        default=60.0, ge=2, le=600, description="Longest clip cut for a requested stretch."
    )
    clip_bitrate: int = Field(
        default=16000, ge=6000, le=64000, description="Opus bitrate of clips (bits/s)."
    )
    clip_encode_queue: int = Field(
        default=8,
        ge=1,
        description="Clips waiting for a worker's encoder; beyond it they are dropped (counted).",
    )
    clip_spool_max: int = Field(
        default=500,
        ge=1,
        description="Encoded clips a worker keeps on disk until uploaded; the oldest beyond "
        "it are dropped (counted).",
    )
    reconcile_attempts: int = Field(
        default=3, ge=1, description="Reconcile attempts before forced re-registration (R3.1)."
    )
    stream_read_timeout_s: float = Field(
        default=15.0, gt=0, description="A stream socket silent this long is a stall."
    )
    title_changes_per_min: int = Field(
        default=10,
        ge=1,
        description="Station title changes a worker keeps per stream and minute; the rest "
        "are dropped and counted (airtrack_titles_limited_total).",
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

    # -- worker and recognition policy ----------------------------------------
    # The worker's HTTP client to the orchestrator: one timeout per phase (httpx-style);
    # unset ones fall back to HTTP_TIMEOUT_S (R5.3). Breakers use BREAKER_* above.
    worker_connect_timeout_s: float | None = _phase_timeout("Worker → orchestrator connect timeout")
    worker_read_timeout_s: float | None = _phase_timeout("Worker → orchestrator read timeout")
    worker_write_timeout_s: float | None = _phase_timeout("Worker → orchestrator write timeout")
    worker_pool_timeout_s: float | None = _phase_timeout(
        "Wait for a free connection to the orchestrator"
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
    worker_stop_flush_s: float = Field(
        default=3.0,
        gt=0,
        description="On stop, how long a worker tries to deliver its queued plays and titles "
        "once more, even with its breaker open; what stays is logged with the outbox path.",
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
            "them for the metadata-check report (docs/metadata.md)."
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
        description="A half-written snapshot or catalog segment file older than this is "
        "removed as abandoned.",
    )
    catalog_compact_fraction: float = Field(
        default=0.1,
        gt=0,
        description="A new catalog base is built (in the background, the old base and its "
        "deltas serving meanwhile) once the tracks the deltas add or remove pass this "
        "fraction of the base's tracks.",
    )
    catalog_compact_deltas: int = Field(
        default=16,
        ge=1,
        description="The catalog's newest delta segments are merged into one once there "
        "are more than this many (each costs a lookup per query hash on the worker).",
    )
    catalog_segment_grace_s: float = Field(
        default=600.0,
        ge=0,
        description="A catalog segment no manifest names any more is deleted after this "
        "long (a worker may be downloading it).",
    )

    # --- logging ----------------------------------------------------------
    log_level: LogLevel = Field(default="INFO", description="Log level.")
    log_json: bool | None = Field(
        default=None, description="JSON logs; default: JSON unless stderr is a terminal."
    )
