"""What the API tells the operations layer, and asks of it: a typed seam.

The routes call these hooks (memory only: they never wait on I/O); the
operations runtime (:class:`airtrack.ops.Operations`) implements them and the
server plugs it in. The API never imports the operations layer's runtime, and
the operations layer never imports the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from airtrack.protocol import HeartbeatRequest, PlayIn, PlayResult


class OperationsHooks(Protocol):
    """Failure accounting and recovery mode, as the routes see them."""

    def failure(self, peer: str, kind: str, error: str = "") -> None:
        """One failed exchange with ``peer`` (``worker:<id>``, ``database``, ``stream:<id>``)."""

    def success(self, peer: str) -> None:
        """One good exchange with ``peer``."""

    def observe_heartbeat(self, worker_id: str, req: HeartbeatRequest) -> None:
        """A heartbeat that was recorded."""

    def observe_plays(
        self, plays: Iterable[PlayIn], results: Iterable[PlayResult], worker: str
    ) -> None:
        """A batch of plays ``worker`` sent and what became of each."""

    def observe_stale(self, kind: str, worker: str, stream_id: int, epoch: int) -> None:
        """A fenced batch (``kind`` play or title) of which every item was stale; the
        first item's stream and epoch."""

    def left(self, worker_id: str) -> None:
        """A worker left gracefully."""

    def recovery(self) -> bool:
        """Whether recovery mode is on."""

    def recovery_since(self) -> float | None:
        """Since when (epoch seconds) recovery mode is on, if it is."""


class NoOperations:
    """The hooks when no operations runtime is installed (tests, a bare API)."""

    def failure(self, peer: str, kind: str, error: str = "") -> None:
        return None

    def success(self, peer: str) -> None:
        return None

    def observe_heartbeat(self, worker_id: str, req: HeartbeatRequest) -> None:
        return None

    def observe_plays(
        self, plays: Iterable[PlayIn], results: Iterable[PlayResult], worker: str
    ) -> None:
        return None

    def observe_stale(self, kind: str, worker: str, stream_id: int, epoch: int) -> None:
        return None

    def left(self, worker_id: str) -> None:
        return None

    def recovery(self) -> bool:
        return False

    def recovery_since(self) -> float | None:
        return None
