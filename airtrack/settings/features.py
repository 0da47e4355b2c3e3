"""Settings of the orchestrator's features: integrations, internals, reports, imports, demo."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class FeatureSettings(BaseSettings):
    """What the orchestrator does beyond ownership (see :class:`airtrack.settings.Settings`)."""

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
        default=10.0, gt=0, description="Per-request timeout of one webhook delivery."
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
