"""Failure accounting (R4.2, R4.3): a pure core with an injected clock.

The ledger counts communication failures per peer (``worker:<id>``,
``database``, ``stream:<id>``) and in one sliding window for the whole
system. It returns *decisions*; the runtime persists them (alerts, events,
``control_state``) and tells the workers. Nothing here does I/O, so the
rules are tested with plain numbers.

* more than ``consecutive_limit`` failures in a row for one peer → one
  :class:`PeerAlert` (then :class:`PeerAlertRepeat` while it stays open);
  a success for that peer → :class:`PeerRecovered`;
* more than ``window_limit`` failures within ``window_s`` → :class:`RecoveryOn`;
  ``quiet_s`` without any failure → :class:`RecoveryOff`;
* a failure charged to a ``source`` (a worker whose plays were stale) counts in
  the window at most ``source_limit`` times per window, so a single worker —
  buggy or hostile — cannot turn recovery mode on for the cluster alone.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: The sliding window of R4.3 ("per minute").
WINDOW_S = 60.0


@dataclass(frozen=True)
class PeerAlert:
    peer: str
    consecutive: int
    kind: str
    error: str


@dataclass(frozen=True)
class PeerAlertRepeat:
    peer: str
    consecutive: int
    kind: str
    error: str


@dataclass(frozen=True)
class PeerRecovered:
    peer: str
    failures: int


@dataclass(frozen=True)
class RecoveryOn:
    failures: int
    window_s: float


@dataclass(frozen=True)
class RecoveryOff:
    quiet_s: float
    lasted_s: float


Decision = PeerAlert | PeerAlertRepeat | PeerRecovered | RecoveryOn | RecoveryOff


@dataclass
class FailureLedger:
    """Consecutive failures per peer plus one sliding window; see the module docstring."""

    consecutive_limit: int = 5
    window_limit: int = 10
    quiet_s: float = 120.0
    window_s: float = WINDOW_S
    consecutive: dict[str, int] = field(default_factory=dict)
    alerted: set[str] = field(default_factory=set)
    window: deque[float] = field(default_factory=deque)
    source_limit: int | None = None
    sourced: dict[str, deque[float]] = field(default_factory=dict)
    recovery_since: float | None = None
    last_failure: float | None = None

    @property
    def recovery(self) -> bool:
        return self.recovery_since is not None

    def failures_in_window(self, now: float) -> int:
        self._trim(now)
        return len(self.window)

    def _trim(self, now: float) -> None:
        while self.window and self.window[0] <= now - self.window_s:
            self.window.popleft()

    def failure(
        self,
        peer: str,
        now: float,
        kind: str = "",
        error: str = "",
        *,
        window: bool = True,
        source: str | None = None,
    ) -> list[Decision]:
        """One failed exchange with ``peer`` at ``now`` (``window=False``: not towards R4.3).

        ``source``: the one party to blame; it adds at most ``source_limit`` to the window.
        """
        out: list[Decision] = []
        n = self.consecutive.get(peer, 0) + 1
        self.consecutive[peer] = n
        if n > self.consecutive_limit:
            if peer in self.alerted:
                out.append(PeerAlertRepeat(peer, n, kind, error))
            else:
                self.alerted.add(peer)
                out.append(PeerAlert(peer, n, kind, error))
        if window and source is not None and self.source_limit is not None:
            mine = self.sourced.setdefault(source, deque())
            while mine and mine[0] <= now - self.window_s:
                mine.popleft()
            if len(mine) >= self.source_limit:
                window = False  # still counted for the peer's alert, not for the cluster
            else:
                mine.append(now)
            for other in [k for k, q in self.sourced.items() if not q]:
                del self.sourced[other]
        if window:
            out.extend(self.remote_failure(now))
        return out

    def remote_failure(self, now: float) -> list[Decision]:
        """A failure seen elsewhere (another replica): it counts in the window only."""
        self.window.append(now)
        self.last_failure = now
        self._trim(now)
        if self.recovery_since is None and len(self.window) > self.window_limit:
            self.recovery_since = now
            return [RecoveryOn(len(self.window), self.window_s)]
        return []

    def success(self, peer: str) -> list[Decision]:
        """A good exchange with ``peer``: its run of failures ends."""
        n = self.consecutive.pop(peer, 0)
        if peer in self.alerted:
            self.alerted.discard(peer)
            return [PeerRecovered(peer, n)]
        return []

    def forget(self, peer: str) -> list[Decision]:
        """The peer left on purpose (graceful leave): close its account like a success."""
        return self.success(peer)

    def poll(self, now: float) -> list[Decision]:
        """Time passes: leave recovery mode after ``quiet_s`` without failures."""
        self._trim(now)
        if self.recovery_since is None:
            return []
        quiet_from = self.last_failure if self.last_failure is not None else self.recovery_since
        quiet_from = max(quiet_from, self.recovery_since)
        if now - quiet_from >= self.quiet_s:
            lasted = now - self.recovery_since
            self.recovery_since = None
            return [RecoveryOff(now - quiet_from, lasted)]
        return []

    def resume_recovery(self, since: float, now: float) -> None:
        """A new leader continues the recovery mode its predecessor persisted.

        The quiet period starts afresh: this leader has not watched it yet.
        """
        if self.recovery_since is None:
            self.recovery_since = since
            self.last_failure = max(self.last_failure or now, now)
