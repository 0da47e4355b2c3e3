"""One exception tree for airtrack.

AirtrackError
├── ConfigError            a setting is invalid (one line naming it)
├── DatabaseError          anything the database layer gives up on
│   ├── DatabaseUnavailable    cannot connect / connection lost (after reconnects)
│   ├── CircuitOpen            breaker open: failing fast while the DB is down
│   ├── LockContention         deadlock / lock timeout / serialization, retries exhausted
│   ├── TransactionTooLong     cancelled by the transaction cap (R2.2)
│   ├── IntegrityViolation     a constraint refused the write
│   └── SchemaTooNew           the database's schema is newer than this airtrack knows
├── AudioError             audio cannot be decoded (corrupt, not audio, too short)
├── IndexFileError         an index file is unreadable or of another engine version
├── ArchiveSegmentError    a fingerprint-archive segment is damaged or not one
├── CatalogError           catalog ingest/export problem
│   ├── InvalidIdentifier      an ISRC or ISWC is malformed or fails its check digit
│   ├── UnknownTrack           no catalog track with that id / ISRC / source
│   ├── CatalogConflict        a concurrent change got in the way (try again)
│   ├── MetadataImportError    an import file is refused (every bad line listed)
│   └── UnknownContentError    a recurring unknown cannot be labelled (no prints left)
│       └── NoSuchUnknown          no recurring unknown with that id (→ 404)
├── StreamFieldError           a stream's metadata is invalid or names no stream
│   ├── UnknownStream          no stream with that name
│   └── StreamImportError     a streams file is refused (every bad line listed)
├── StreamExists           a stream with that name (or URL) already exists
├── InputRefused           well-formed input outside a bound or policy (→ 422)
│   └── ClipTooLarge           a proof clip above AIRTRACK_CLIP_MAX_BYTES (→ 413)
├── ReportRequestError     a report or play query has a bad range, zone, format or cursor
│   │                      (CLI: one line, exit 1; API: 400)
│   └── ReportTemplateError    a report template is unreadable or names an unknown field
├── ListenerStatsError     a stats endpoint's answer is unusable (down, too big, malformed)
├── StaleEpoch             a write carried an epoch that no longer owns the stream
├── OrchestratorUnavailable  worker cannot reach the orchestrator (breaker/timeouts)
│   └── SnapshotCorrupt        a snapshot download fails its checksum (retried, never loaded)
├── WorkerNotRegistered    the orchestrator does not know this worker (register again)
├── OrchestratorRejected   the orchestrator refused a request (4xx); retrying will not help
├── WebhookError           a webhook endpoint request is invalid (bad URL, type, stream)
│   ├── UnknownWebhook         no webhook endpoint with that id (→ 404)
│   └── WebhookLimit           as many endpoints as AIRTRACK_WEBHOOK_ENDPOINTS_MAX (→ 409)
└── HomeInUse              another worker process holds this worker's home (PID named)

:func:`first_line` is the one way to turn an exception into a one-line message.
The HTTP status the API answers each with is in one table, ``ERROR_STATUS`` in
``airtrack/api/app.py`` (docs/architecture.md#api-errors).
"""

from __future__ import annotations


class AirtrackError(Exception):
    """Base of every error airtrack raises on purpose."""


class ConfigError(AirtrackError):
    """A setting is invalid."""


class DatabaseError(AirtrackError):
    """The database layer gave up on an operation."""

    def __init__(self, message: str, *, query: str = "", sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.query = query
        self.sqlstate = sqlstate


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached (after the reconnect attempts)."""


class CircuitOpen(DatabaseUnavailable):
    """The circuit breaker is open; the call was not attempted."""


class LockContention(DatabaseError):
    """Lock contention outlasted every retry."""


class TransactionTooLong(DatabaseError):
    """The transaction ran past the cap and was cancelled and rolled back."""


class IntegrityViolation(DatabaseError):
    """A constraint refused the write."""


class SchemaTooNew(DatabaseError):
    """The database was migrated by a newer airtrack: this one must not run on it."""

    def __init__(self, have: int, knows: int) -> None:
        super().__init__(
            f"the database schema is at version {have} and this airtrack knows versions up "
            f"to {knows}: a newer airtrack migrated it. Install that newer version again, "
            "or restore the backup taken before the upgrade (docs/deployment.md, upgrades)",
            query="migrate",
        )
        self.have = have
        self.knows = knows


class AudioError(AirtrackError):
    """Audio could not be decoded or is unusable (one-line reason in the message)."""


class CatalogError(AirtrackError):
    """A catalog operation failed."""


class InvalidIdentifier(CatalogError):
    """An ISRC or ISWC is malformed or fails its check digit."""


class UnknownTrack(CatalogError):
    """No catalog track matches the given id, ISRC or source."""


class CatalogConflict(CatalogError):
    """A concurrent change to the catalog got in the way (the same content removed
    while it was added); trying again will do."""


class MetadataImportError(CatalogError):
    """A metadata file was refused as a whole; ``problems`` lists each bad line."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class UnknownContentError(CatalogError):
    """A recurring unknown cannot be labelled (its archived prints are gone, or it was
    labelled already)."""


class NoSuchUnknown(UnknownContentError):
    """No recurring unknown with that id."""


class StreamFieldError(AirtrackError):
    """A stream's metadata is invalid (time zone, URL, field)."""


class UnknownStream(StreamFieldError):
    """No stream has that name."""


class StreamImportError(StreamFieldError):
    """A streams file was refused as a whole; ``problems`` lists each bad line."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class StaleEpoch(AirtrackError):
    """A write about a stream carried an epoch that no longer owns it."""


class OrchestratorUnavailable(AirtrackError):
    """The orchestrator cannot be reached right now."""


class SnapshotCorrupt(OrchestratorUnavailable):
    """Every download of the catalog snapshot failed its checksum (truncated or damaged
    on the way): the worker keeps its current catalog and tries again later."""


class IndexFileError(AirtrackError):
    """A fingerprint index file is unreadable, corrupt or of another engine version."""


class ArchiveSegmentError(AirtrackError):
    """A fingerprint-archive segment is damaged or is not one (never replayed)."""


class StreamExists(AirtrackError):
    """A stream with that name (or that URL) already exists."""


class InputRefused(AirtrackError):
    """Well-formed input outside a bound or policy (a play from year 9999, a link-local
    stream URL); the API answers 422 with the message."""


class ClipTooLarge(InputRefused):
    """A proof clip larger than ``clip_max_bytes``; the API answers 413."""


class ReportRequestError(AirtrackError):
    """A report or play query is malformed: unknown stream or track, bad range or time zone."""


class ReportTemplateError(ReportRequestError):
    """A report template is unreadable, or names a field the report does not have."""


class ListenerStatsError(AirtrackError):
    """A stream's stats endpoint gave no listener count; ``kind`` names the state."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class WorkerNotRegistered(AirtrackError):
    """The orchestrator does not know this worker (404 on heartbeat): register again."""


class OrchestratorRejected(AirtrackError):
    """The orchestrator refused the request (4xx other than 404/409); retrying will not help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
        #: The bad lines of a refused file, when the orchestrator listed them.
        self.problems: list[str] | None = None


class WebhookError(AirtrackError):
    """A webhook endpoint request is invalid (bad URL, unknown event type or stream)."""


class UnknownWebhook(WebhookError):
    """No webhook endpoint with that id."""


class WebhookLimit(WebhookError):
    """Adding an endpoint would pass ``webhook_endpoints_max``."""


class HomeInUse(AirtrackError):
    """Another process holds this worker's home (one worker process per home and id)."""

    def __init__(self, message: str, *, pid: int | None) -> None:
        super().__init__(message)
        #: The process that holds the home, when its lock file names one.
        self.pid = pid


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its class name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
