"""Settings of the orchestrator's features: integrations, internals, reports, imports, demo."""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings


class FeatureSettings(BaseSettings):
    """What the orchestrator does beyond ownership (see :class:`airtrack.settings.Settings`)."""

    # --- fingerprint archive and back-fill (docs/unknown.md) ---------------------------
    archive_days: int = Field(
        default=7, ge=1, le=366, description="Days of fingerprint archive kept (day partitions)."
    )
    archive_segment_max_bytes: int = Field(
        default=500_000, ge=1000, description="Largest archive segment the API accepts."
    )
    archive_job_s: float = Field(
        default=15.0,
        gt=0,
        description="How often the leader keeps archive partitions and back-fills new tracks.",
    )
    backfill_delay_s: float = Field(
        default=60.0,
        ge=0,
        description="A new track's back-fill waits this long (workers hear new airings first).",
    )
    backfill_tracks_per_pass: int = Field(
        default=50, ge=1, description="New tracks one back-fill run of the leader takes."
    )
    backfill_streams_per_pass: int = Field(
        default=5, ge=1, description="Streams one back-fill pass of the leader replays."
    )
    backfill_segments_per_stream: int = Field(
        default=20000, ge=1, description="Archive segments one back-fill pass reads per stream."
    )
    backfill_slack_s: float = Field(
        default=2.0,
        ge=0,
        description="A found airing that overlaps a play of the same track by more than "
        "this is that play.",
    )
    backfill_gap_s: float = Field(
        default=30.0, gt=0, description="A hole in the archive this long restarts the matcher."
    )

    # --- proof clips (docs/unknown.md#proof-clips) ----------------------------------
    clip_max_bytes: int = Field(
        default=200_000, ge=1000, description="Largest clip the API accepts (bytes of audio)."
    )
    clips_per_stream_hour: int = Field(
        default=60,
        ge=1,
        description="Clips stored per stream per hour; beyond it a clip is refused as limited.",
    )
    clip_days: int = Field(
        default=30, ge=1, le=3660, description="Days clips (and clip requests) are kept."
    )
    clip_requests_poll_s: float = Field(
        default=5.0,
        gt=0,
        description="How often each replica reads the pending clip requests it hands to "
        "workers in heartbeat replies.",
    )

    # --- recurring unknowns: discovery in the archive (docs/unknown.md) ---------------
    unknown_job_s: float = Field(
        default=60.0, gt=0, description="How often the leader looks for recurring unknowns."
    )
    unknown_min_s: float = Field(
        default=5.0, gt=0, description="Shortest unmatched stretch that counts as a recurrence."
    )
    unknown_window_h: float = Field(
        default=24.0,
        gt=0,
        description="New archive segments are compared with this many hours of unmatched audio.",
    )
    unknown_window_max_prints: int = Field(
        default=20_000_000,
        ge=1000,
        description="Sampled prints the leader keeps in memory for the window (20 B each; "
        "the oldest go first).",
    )
    unknown_sample: int = Field(
        default=4,
        ge=1,
        le=64,
        description="One print hash in this many is compared (the same ones at every airing).",
    )
    unknown_min_hits: int = Field(
        default=10, ge=3, description="Aligned sampled prints a recurrence needs."
    )
    unknown_lookback_s: float = Field(
        default=120.0,
        ge=0,
        description="New prints are compared together with their stream's prints this "
        "long before them (an airing cut across segments is linked whole).",
    )
    unknown_segments_per_pass: int = Field(
        default=2000, ge=1, description="Archive segments one discovery pass reads at most."
    )
    unknown_per_day: int = Field(
        default=200, ge=0, description="New unknowns discovery creates per day at most."
    )
    unknown_repeat_gap_s: float = Field(
        default=600.0,
        ge=0,
        description="On one stream, a recurrence this close is a song's own repeated "
        "section, not another airing.",
    )
    unknown_slack_s: float = Field(
        default=2.0,
        ge=0,
        description="Audio this close to a play counts as covered by it (not unknown).",
    )

    # --- integrations: events, webhooks, stream health (docs/integrations.md) ----------
    stream_down_after_s: float = Field(
        default=120.0, gt=0, description="Errors for longer than this → the station is down."
    )
    stream_down_critical_s: float = Field(
        default=900.0, gt=0, description="Down for longer than this → the alert turns critical."
    )
    uptime_refresh_s: float = Field(
        default=60.0, gt=0, description="How often the leader refreshes uptime in /metrics."
    )
    webhook_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Total deadline of one webhook request (connect, send, answer), below "
        "WEBHOOK_LEASE_S.",
    )
    webhook_answer_max_bytes: int = Field(
        default=4096,
        ge=0,
        description="Bytes of a webhook receiver's answer body read at most; the rest is "
        "not read (the connection is closed).",
    )
    webhook_endpoints_max: int = Field(
        default=100, ge=1, description="Most webhook endpoints; adding one more is refused."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook URLs on loopback and private addresses (a receiver "
        "inside the orchestrator's network).",
    )
    webhook_networks: str = Field(
        default="",
        description="Comma-separated networks (CIDR); when set, webhooks may target only "
        "addresses inside them.",
    )
    webhook_retry_hours: float = Field(
        default=25.0, gt=0, description="Retry an event this long before giving up on it."
    )
    webhook_backoff_base_s: float = Field(
        default=1.0, gt=0, description="First retry delay of a failing webhook; doubles each time."
    )
    webhook_backoff_max_s: float = Field(
        default=600.0, gt=0, description="Longest delay between retries of one webhook event."
    )
    webhook_lease_s: float = Field(
        default=30.0,
        gt=0,
        description="Lease on one endpoint's delivery; another leader resumes after it expires.",
    )
    events_poll_s: float = Field(
        default=0.5,
        gt=0,
        description="Longest wait for new events when no NOTIFY arrives (webhooks, SSE).",
    )
    events_recheck_s: float = Field(
        default=0.02,
        gt=0,
        description="Re-read this soon when committed events wait behind an older open "
        "transaction (its commit sends no NOTIFY); doubles up to EVENTS_POLL_S.",
    )
    webhook_skip_events: int = Field(
        default=1000,
        ge=1,
        description="A webhook with a filter moves its cursor past the events it does not "
        "want once this many have passed, so that they are not read again at every wake-up.",
    )
    events_retention_h: float = Field(
        default=168.0, gt=0, description="Events older than this are pruned by the leader."
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
    diagnose_quiet_stream_s: float = Field(
        default=1800.0,
        gt=0,
        description="A running stream with no play and no title for this long is a finding.",
    )
    diagnose_events_held_s: float = Field(
        default=60.0,
        gt=0,
        description="Events committed this long ago and still held from webhooks and the "
        "event stream (behind an open transaction) are a finding.",
    )
    diagnose_top_patterns: int = Field(
        default=10, ge=1, description="Error patterns listed by diagnostics."
    )

    # --- orchestrator internals -------------------------------------------
    play_continuation_gap_s: float = Field(
        default=10.0,
        ge=0,
        description="Reports of one track on one stream this close together are one airing "
        "(further apart too when their song origins agree: a slow handoff or reconnect).",
    )
    play_overlap_max_s: float = Field(
        default=5.0,
        ge=0,
        description="Most a merged play may run into the next airing (a crossfade); "
        "a handoff report past it keeps the stored end.",
    )
    play_alignment_tolerance_s: float = Field(
        default=2.0,
        ge=0,
        description="Reports whose song origins differ by more than this, the second "
        "starting after the first ended, are two airings (a repeat, a rewind), not one.",
    )
    refused_plays_max: int = Field(
        default=100_000,
        ge=0,
        description="Most plays and stream titles refused by the epoch fence kept for review "
        "(`airtrack plays refused list`); past it a refused item is only logged.",
    )
    rebalance_moves_per_tx: int = Field(
        default=500, ge=1, description="Assignment moves the leader applies per transaction."
    )
    catalog_watch_s: float = Field(
        default=5.0, gt=0, description="How often the orchestrator checks the catalog revision."
    )
    catalog_progress_line_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between progress lines of `catalog add`/`reindex` when stderr "
        "is not a terminal (a terminal gets a live bar).",
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

    # --- listener figures (docs/reports.md#listener-figures) ---------------
    listeners_poll_s: float = Field(
        default=60.0,
        gt=0,
        description="How often the leader polls each stream's stats_url for its listener count.",
    )
    listeners_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="Total deadline of one stats request (connect, headers and body): a slow "
        "endpoint costs at most this per poll and never delays another stream's poll.",
    )
    listeners_max_bytes: int = Field(
        default=262_144,
        ge=1024,
        description="Largest stats response read; a bigger body is refused without reading on.",
    )
    listeners_hold_s: float = Field(
        default=150.0,
        gt=0,
        description="How long one listener sample stands for the count when no next sample "
        "comes sooner (a play with no sample this close has no listener figure).",
    )
    listeners_retention_days: float = Field(
        default=400.0,
        gt=0,
        description="Listener samples older than this are deleted (reports over older "
        "periods then have no listener figures).",
    )

    # --- imports ----------------------------------------------------------
    import_max_bytes: int = Field(
        default=10_485_760,
        ge=1024,
        description="Largest metadata or stations file `catalog import-metadata` and "
        "`streams import` accept.",
    )

    # --- the metadata cross-check (docs/metadata.md) ---------------------
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

    # --- demo -------------------------------------------------------------
    demo_stations_port: int = Field(
        default=8760,
        ge=0,
        le=65535,
        description="Port of `airtrack demo`'s station server; kept across runs so the "
        "streams' URLs stay valid (another port is used, and the URLs updated, when busy).",
    )

    @field_validator("webhook_networks")
    @classmethod
    def _networks(cls, v: str) -> str:
        for n in v.split(","):
            if n.strip():
                try:
                    ipaddress.ip_network(n.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"not a network: {n.strip()!r} ({exc})") from None
        return v
