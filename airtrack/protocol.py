"""Wire models shared by the orchestrator and the worker (docs/architecture.md#contracts).

These are the contract: extend them, never change a field's meaning.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from airtrack.checks import (
    STREAM_URL_MAX,
    check_extra,
    check_stream_name,
    check_stream_url,
    check_timezone,
    clean_text,
)
from airtrack.redact import mask_credentials

__all__ = [  # the checks are part of the contract: callers import them from here
    "STREAM_URL_MAX",
    "check_extra",
    "check_stream_name",
    "check_stream_url",
    "check_timezone",
]

WorkerId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]


#: What a stream may be called: 1–200 printable characters without "/".
StreamName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_stream_name)]
Epoch = Annotated[int, Field(ge=0, le=2**62)]


def _to_utc(v: datetime) -> datetime:
    if v.tzinfo is None:
        raise ValueError("timestamps must carry a time zone (ISO-8601 with offset)")
    try:
        return v.astimezone(UTC)  # the database takes offsets up to ±15:59 only
    except OverflowError:
        raise ValueError("timestamp out of range") from None


#: A timestamp a worker reports: it must carry a zone, and is kept in UTC.
UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]

#: Largest row id PostgreSQL's bigint holds; larger ids are refused with 422, not a 500.
MAX_ID = 2**63 - 1
StreamStatus = Literal["starting", "running", "retrying", "failed", "stopped"]

# --- routes and what their status codes mean -----------------------------
#: Every route of the API lives under this prefix.
API_PREFIX = "/api/v1"
REGISTER_PATH = f"{API_PREFIX}/workers/register"
HEARTBEAT_PATH = f"{API_PREFIX}/workers/{{worker_id}}/heartbeat"
DEREGISTER_PATH = f"{API_PREFIX}/workers/{{worker_id}}/deregister"
PLAYS_PATH = f"{API_PREFIX}/plays"
#: In-band stream titles (ICY StreamTitle) as workers heard them (docs/metadata.md).
METADATA_PATH = f"{API_PREFIX}/metadata"
#: Fingerprint-archive segments: the query prints a worker heard (docs/unknown.md).
ARCHIVE_PATH = f"{API_PREFIX}/archive"
#: Proof clips: short audio a worker cut from what it heard (docs/unknown.md#proof-clips).
CLIPS_PATH = f"{API_PREFIX}/clips"
SNAPSHOT_PATH = f"{API_PREFIX}/catalog/snapshot"
#: sha256 (hex) of the snapshot body: the worker loads only a download that matches it.
SNAPSHOT_SHA256_HEADER = "X-Airtrack-Sha256"
#: The catalog as segments (docs/scaling.md#incremental-snapshots): a small JSON manifest
#: (ETag = its version, the one heartbeats carry) naming a base index, delta prints packs
#: and removed track ids; each segment by name, with SNAPSHOT_SHA256_HEADER.
MANIFEST_PATH = f"{API_PREFIX}/catalog/manifest"
SEGMENT_PATH = f"{API_PREFIX}/catalog/segments/{{name}}"
#: On a 404 of MANIFEST_PATH: this orchestrator serves segments, it has none yet (empty
#: catalog, first base still building): wait for a heartbeat naming a version; without
#: it (an older orchestrator) the worker uses SNAPSHOT_PATH.
SEGMENTS_HEADER = "X-Airtrack-Segments"
#: The per-worker credential a worker presents on every call (docs/security.md).
CREDENTIAL_HEADER = "X-Airtrack-Credential"
#: A credential that does not speak for the worker id in the request.
WRONG_CREDENTIAL = 403
#: ``catalog add`` from a remote CLI: fingerprints and metadata, never audio.
UPLOADS_PATH = f"{API_PREFIX}/catalog/uploads"
#: ``GET /plays`` pages: this response header holds the next page's ``cursor``.
NEXT_CURSOR_HEADER = "X-Next-Cursor"
#: Heartbeat or deregister from a worker the orchestrator does not know: register again.
UNKNOWN_WORKER = 404
#: Every play of a batch had a stale epoch: the worker no longer owns those streams.
ALL_STALE = 409


class _Model(BaseModel):
    # NaN and ±Infinity parse from JSON (Python's json accepts them) but are no
    # measurement and PostgreSQL's jsonb refuses them: 422 here, not a 500 there.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, v: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here (422), not in the database (500).
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("text must not contain NUL characters")
        return v


# --- worker → orchestrator ------------------------------------------------


class RegisterRequest(_Model):
    worker_id: WorkerId
    capacity: int = Field(ge=0, le=100_000)
    host: str | None = Field(default=None, max_length=255)
    version: str | None = Field(default=None, max_length=64)


class Assignment(_Model):
    """One stream the worker must run, fenced by ``epoch``.

    ``backup_urls`` are tried in order when ``url`` keeps failing (the worker comes back
    to ``url`` when it answers again).
    """

    stream_id: int = Field(ge=1, le=MAX_ID)
    name: str
    url: str
    epoch: Epoch
    backup_urls: list[str] = Field(default_factory=list)


class RegisterResponse(_Model):
    worker_id: str
    heartbeat_interval_s: float
    lease_ttl_s: float
    assignments: list[Assignment]
    incarnation: int = 0


class RunningStream(_Model):
    """A stream as the worker runs it, reported in every heartbeat."""

    stream_id: int = Field(ge=1, le=MAX_ID)
    epoch: Epoch
    status: StreamStatus = "running"
    error: str | None = Field(default=None, max_length=2000)
    lag_s: float | None = Field(default=None, ge=0)
    cpu_s: float | None = Field(default=None, ge=0)
    #: The URL the worker is reading (the main URL or one of the backups).
    url_in_use: str | None = Field(default=None, max_length=2000)

    @field_validator("error", "url_in_use")
    @classmethod
    def _masked(cls, v: str | None) -> str | None:
        # Only shown from here on (status, events, alerts): never with a URL's password.
        return None if v is None else mask_credentials(v)


#: The metrics a worker reports in heartbeats; the orchestrator keeps only these (each
#: becomes a Prometheus series per worker, so an open set would be unbounded).
WORKER_METRICS = frozenset(
    {
        "streams",
        "streams_running",
        "cpu_s",
        "outbox_pending",
        # plays, titles and acks held in memory because the outbox's disk refused them
        "outbox_unsaved",
        "plays_acked",
        "local_mode",
        "titles_limited",
        # the fingerprint archive: segments made, pairs thinned by the bytes cap, segments
        # dropped from a full outbox
        "archive_segments",
        "archive_thinned_pairs",
        "archive_dropped_segments",
        # proof clips: cut, missed (the buffer no longer held them), dropped (encoder
        # behind, spool full, refused), uploaded, waiting in the spool
        "clips_cut",
        "clips_missed",
        "clips_dropped",
        "clips_uploaded",
        "clips_spooled",
    }
)


class HeartbeatRequest(_Model):
    streams: list[RunningStream] = Field(default_factory=list, max_length=100_000)
    metrics: dict[Annotated[str, Field(max_length=64)], float] | None = Field(
        default=None, max_length=64
    )


class ClipWanted(_Model):
    """A clip request: cut ``start``..``end`` of the stream (wall time, as plays are
    dated) from the rolling audio buffer if it is still there, and upload it with
    ``request_id``."""

    id: int = Field(ge=1, le=MAX_ID)
    stream_id: int = Field(ge=1, le=MAX_ID)
    start: datetime
    end: datetime


class HeartbeatResponse(_Model):
    assignments: list[Assignment]
    recovery_mode: bool = False
    heartbeat_interval_s: float | None = None
    catalog_version: str | None = None
    #: Clips wanted of the worker's streams (omitted when none).
    clip_requests: list[ClipWanted] | None = None


class PlayIn(_Model):
    """A play as the worker reports it; ``key`` makes the report idempotent."""

    key: str = Field(min_length=8, max_length=128)
    stream_id: int = Field(ge=1, le=MAX_ID)
    epoch: Epoch
    track_id: int = Field(ge=1, le=MAX_ID)
    started_at: UtcDatetime
    ended_at: UtcDatetime | None = None
    confidence: float = Field(ge=0, le=1)
    #: Where the song's beginning falls on this stream's clock (``started_at`` minus the
    #: song position at the start, over the playback speed): one airing keeps one origin,
    #: a repeat or a DJ's rewind gets another. None: unknown (older workers).
    song_origin: UtcDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PlayIn:
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at must not be before started_at")
        return self


class PlaysRequest(_Model):
    #: The sender: every play must be written by this worker (the stream's owner at the
    #: play's epoch), so one worker cannot record plays in another's name.
    worker_id: WorkerId
    plays: list[PlayIn] = Field(min_length=1, max_length=1000)


#: "unarchived": an archive segment the store could not take (the archive degrades; the
#: worker drops it, plays never wait on it).
#: "limited": a clip beyond ``clips_per_stream_hour`` (not stored; never sent again).
PlayStatus = Literal["stored", "duplicate", "stale", "extended", "unarchived", "limited"]


class PlayResult(_Model):
    key: str
    status: PlayStatus


class PlaysResponse(_Model):
    results: list[PlayResult]


class TitleIn(_Model):
    """A stream's in-band title changed at ``at`` (wall time of the audio it sat in).

    ``title`` None: the metadata block named no title; "": the station cleared it.
    Fenced by ``epoch`` like a play; ``key`` makes the report idempotent.
    """

    key: str = Field(min_length=8, max_length=128)
    stream_id: int = Field(ge=1, le=MAX_ID)
    epoch: Epoch
    at: UtcDatetime
    title: str | None = Field(default=None, max_length=4080)  # 255 blocks of 16 bytes
    url: str | None = Field(default=None, max_length=4080)
    encoding: str = Field(default="utf-8", max_length=40)

    @field_validator("title", mode="before")
    @classmethod
    def _printable(cls, v: Any) -> Any:
        # A station's own title: whoever runs the station writes it. Control characters
        # (NUL, escapes, bidi overrides) are removed before it is stored (checks.clean_text).
        return clean_text(v) if isinstance(v, str) else v


class TitlesRequest(_Model):
    #: The sender, as for plays: every title must be written by this worker.
    worker_id: WorkerId
    titles: list[TitleIn] = Field(min_length=1, max_length=1000)


class TitlesResponse(_Model):
    #: statuses as for plays: stored, duplicate, stale
    results: list[PlayResult]


class ArchiveIn(_Model):
    """One segment of a stream's query prints (airtrack/fingerprint/archive.py), fenced by
    ``epoch`` like a play; ``key`` makes it idempotent. ``data`` is base64 of the
    segment's bytes (the API caps its size: ``archive_segment_max_bytes``)."""

    key: str = Field(min_length=8, max_length=128)
    stream_id: int = Field(ge=1, le=MAX_ID)
    epoch: Epoch
    started_at: UtcDatetime
    duration_s: float = Field(gt=0, le=3600)
    pairs: int = Field(ge=0, le=10_000_000)
    data: str = Field(min_length=1, max_length=16_000_000)


class ArchiveRequest(_Model):
    #: The sender, as for plays: every segment must be written by this worker.
    worker_id: WorkerId
    segments: list[ArchiveIn] = Field(min_length=1, max_length=100)


ClipMediaType = Literal["audio/ogg", "audio/mpeg"]


class ClipIn(_Model):
    """A proof clip, fenced by ``epoch`` like a play; ``key`` makes it idempotent.

    Tied to what it proves by ``play_key`` (the idempotency key of the play it starts,
    as the worker sent the play) or ``request_id`` (a clip request it answers).
    ``data`` is base64 of the encoded audio (the API caps it: ``clip_max_bytes``).
    """

    key: str = Field(min_length=8, max_length=128)
    stream_id: int = Field(ge=1, le=MAX_ID)
    epoch: Epoch
    started_at: UtcDatetime
    duration_s: float = Field(gt=0, le=600)
    play_key: str | None = Field(default=None, min_length=8, max_length=128)
    request_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    media_type: ClipMediaType = "audio/ogg"
    data: str = Field(min_length=1, max_length=8_000_000)


class ClipsRequest(_Model):
    #: The sender, as for plays: every clip must be written by this worker.
    worker_id: WorkerId
    clips: list[ClipIn] = Field(min_length=1, max_length=20)


#: What a worker writes about its streams, fenced by epoch: one path for every kind.
FencedKind = Literal["play", "title", "archive", "clip"]
#: One item of a fenced batch.
FencedItem = PlayIn | TitleIn | ArchiveIn | ClipIn


# --- admin ----------------------------------------------------------------


class StreamCreate(_Model):
    name: StreamName
    url: AnyUrl
    backup_urls: list[str] = Field(default_factory=list, max_length=20)
    timezone: str = "UTC"
    country: str | None = Field(default=None, max_length=500)
    region: str | None = Field(default=None, max_length=500)
    city: str | None = Field(default=None, max_length=500)
    genre: str | None = Field(default=None, max_length=500)
    extra: dict[Annotated[str, Field(min_length=1, max_length=100)], str] = Field(
        default_factory=dict, max_length=100
    )
    #: The server's listener statistics (docs/reports.md#listener-figures); may hold
    #: credentials: kept, and masked wherever it is shown.
    stats_url: str | None = Field(default=None, max_length=STREAM_URL_MAX)

    @field_validator("stats_url")
    @classmethod
    def _stats(cls, v: str | None) -> str | None:
        return None if v is None or not v.strip() else check_stream_url(v)

    @field_validator("url", mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        if isinstance(v, str) and len(v) > STREAM_URL_MAX:
            raise ValueError(f"stream URL longer than {STREAM_URL_MAX} characters")
        return v

    @field_validator("url")
    @classmethod
    def _http_only(cls, v: AnyUrl) -> AnyUrl:
        if v.scheme not in ("http", "https"):
            raise ValueError("stream URL must be http:// or https://")
        if not v.host:
            raise ValueError("stream URL must name a host")
        if len(str(v)) > STREAM_URL_MAX:
            raise ValueError(f"stream URL longer than {STREAM_URL_MAX} characters")
        return v

    @field_validator("backup_urls")
    @classmethod
    def _backups(cls, v: list[str]) -> list[str]:
        return [check_stream_url(u) for u in v]

    @field_validator("extra")
    @classmethod
    def _extra(cls, v: dict[str, str]) -> dict[str, str]:
        return check_extra(v)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return check_timezone(v)


class StreamOut(BaseModel):
    id: int
    name: str
    url: str
    enabled: bool
    created_at: datetime
    last_error: str | None = None
    worker_id: str | None = None
    epoch: int | None = None
    #: What its worker last reported about capture (starting, running, retrying, failed).
    capture_status: str | None = None
    backup_urls: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    country: str | None = None
    region: str | None = None
    city: str | None = None
    genre: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    #: The URL its worker last reported reading (None: not running or not reported).
    url_in_use: str | None = None
    #: The listener statistics endpoint, its credentials masked.
    stats_url: str | None = None
    #: Its assignment's state (unassigned, assigned, revoking).
    assignment_state: str | None = None
    #: up / down / unmonitored (docs/integrations.md#stream-health), since when and why.
    health: str | None = None
    health_since: datetime | None = None
    health_cause: str | None = None

    @field_validator("url", "url_in_use", "last_error", "health_cause")
    @classmethod
    def _masked(cls, v: str | None) -> str | None:
        # A stream's credentials stay in the database and the worker's assignment.
        return None if v is None else mask_credentials(v)

    @field_validator("backup_urls")
    @classmethod
    def _masked_list(cls, v: list[str]) -> list[str]:
        return [mask_credentials(u) for u in v]


class WorkerOut(BaseModel):
    id: str
    host: str | None
    capacity: int
    state: str
    registered_at: datetime
    last_heartbeat: datetime | None
    incarnation: int
    streams: int = 0
    meta: dict[str, Any] = Field(default_factory=dict)


class AssignmentOut(BaseModel):
    stream_id: int
    worker_id: str | None
    epoch: int
    state: str


class PlayOut(BaseModel):
    id: int | None = None
    stream_id: int
    stream: str
    track_id: int | None
    title: str | None
    artist: str | None
    source: str | None
    isrc: str | None = None
    started_at: datetime
    ended_at: datetime | None
    confidence: float
    worker_id: str | None
    #: 'fingerprint' (heard), 'metadata' (only named by the station's title) or
    #: 'backfill' (found later in the fingerprint archive)
    play_source: str = "fingerprint"


class PrintsUpload(_Model):
    """One catalog file fingerprinted on the operator's machine: metadata and prints only.

    ``engine`` must be the orchestrator's fingerprint engine (``landmark-vN``): prints of
    another version could never match (409).
    """

    title: str | None = Field(default=None, max_length=1000)
    artist: str | None = Field(default=None, max_length=1000)
    source: str = Field(min_length=1, max_length=4096)
    duration_s: float = Field(ge=0, le=86_400)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    engine: str = Field(max_length=64)
    prints: str = Field(description="The compact prints, base64.")


class UploadResult(_Model):
    status: Literal["added", "duplicate", "updated"]
    track_id: int


class KnownContent(_Model):
    track_id: int
    current: bool
