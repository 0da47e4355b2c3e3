"""One connection to a stream: its clock (audio position → wall time) and its matcher.

The worker dates plays by the wall clock of the audio's live edge, not by when a block
happened to be decoded: :meth:`Session.on_block` keeps the connection's origin as a
sliding-window minimum of ``arrival − audio position`` (network delays only ever add).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol


class Matcher(Protocol):
    """What the pipeline needs of :class:`airtrack.fingerprint.matcher.StreamingMatcher`."""

    def feed(self, block: Any) -> Sequence[Any]: ...

    def close(self) -> Sequence[Any]: ...


#: How far back the time origin of a connection looks (see ``Session.on_block``).
ORIGIN_WINDOW_S = 120.0


class Session:
    """One connection: its time origin and the matcher(s) fed from it."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self.wall = wall
        self.origin: float | None = None
        self._candidates: deque[tuple[float, float]] = deque()  # (arrival, origin), rising
        self.audio_s = 0.0
        self.matcher: Matcher | None = None
        self.matcher_offset_s = 0.0

    def on_block(self, seconds: float) -> float:
        """Account a block; returns the lag behind the live edge.

        The origin is the smallest ``arrival − audio position`` over the last
        ``ORIGIN_WINDOW_S`` (a sliding-window minimum): network delays only ever add,
        so the minimum sits on the live edge, and the window lets it follow a source
        whose clock runs slow instead of sliding earlier for as long as it is connected.
        """
        self.audio_s += seconds
        now = self.wall()
        candidate = now - self.audio_s
        window = self._candidates
        while window and window[-1][1] >= candidate:
            window.pop()
        window.append((now, candidate))
        while len(window) > 1 and window[0][0] < now - ORIGIN_WINDOW_S:
            window.popleft()
        self.origin = window[0][1]
        return max(0.0, now - self.origin - self.audio_s)

    def wall_of(self, t_s: float) -> datetime:
        origin = self.origin if self.origin is not None else self.wall()
        return datetime.fromtimestamp(origin + self.matcher_offset_s + t_s, UTC)
