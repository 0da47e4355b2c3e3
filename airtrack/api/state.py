"""Everything a route needs, in one object: built by the server, injected by tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from airtrack.db import Database
from airtrack.db.listener import EventSignal
from airtrack.orchestrator.clips import PendingClipRequests
from airtrack.orchestrator.control import ControlLoop
from airtrack.orchestrator.tokens import Tokens
from airtrack.settings import Settings

from .hooks import NoOperations, OperationsHooks
from .limits import TokenBucket

#: Returns the current catalog index snapshot (file, version), or None when empty.
SnapshotFn = Callable[[], Awaitable[tuple[Path, str] | None]]


class CatalogSegments(Protocol):
    """The catalog as segments (``airtrack.catalog.manifest.SegmentStore``)."""

    async def manifest(self) -> dict[str, Any] | None: ...

    def served(self) -> dict[str, Any] | None: ...

    def segment_path(self, name: str) -> tuple[Path, str | None] | None: ...


@dataclass
class AppState:
    """The API's state: database, settings, tokens, the control loop and the hooks."""

    db: Database
    settings: Settings
    tokens: Tokens
    control: ControlLoop | None = None
    snapshot: SnapshotFn | None = None
    #: the catalog as segments; when set, heartbeats carry its manifest version
    segments: CatalogSegments | None = None
    catalog_version: str | None = None
    hooks: OperationsHooks = field(default_factory=NoOperations)
    #: Wakes webhook delivery and the event stream on new events (set by the lifespan).
    events: EventSignal | None = None
    #: Registrations of worker ids the store does not know yet (docs/security.md).
    new_worker_ids: TokenBucket | None = None
    #: Pending clip requests, handed to their streams' owners in heartbeat replies.
    clip_requests: PendingClipRequests = field(default_factory=PendingClipRequests)

    def __post_init__(self) -> None:
        if self.new_worker_ids is None:
            self.new_worker_ids = TokenBucket(self.settings.worker_new_ids_per_min)
