"""Backoff and circuit breaking shared by the DB layer and the worker's client.

Both are plain objects with an injectable clock so that they are tested
with real time scaled down, not mocked.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.1,
    factor: float = 2.0,
    cap: float = 5.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number ``attempt`` (1-based): exponential with full jitter.

    The delay lies in [d/2, d] where d = min(cap, base × factor^(attempt-1)), so
    retries never synchronise across processes but never collapse to zero.
    """
    d = min(cap, base * factor ** max(0, attempt - 1))
    return d / 2 + rng() * d / 2


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class CircuitBreaker:
    """Fail fast after ``failures`` consecutive failures; probe again after ``open_s``.

    ``allow()`` says whether a call may go ahead now. In the half-open state
    exactly one probe is let through at a time; its success closes the
    breaker, its failure opens it for another ``open_s``.
    """

    name: str
    failures: int = 5
    open_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    on_change: Callable[[str, BreakerState, BreakerState], None] | None = None
    _consecutive: int = field(default=0, init=False)
    _state: BreakerState = field(default=BreakerState.CLOSED, init=False)
    _opened_at: float = field(default=0.0, init=False)
    _probe_out: bool = field(default=False, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def state(self) -> BreakerState:
        with self._lock:
            self._maybe_half_open()
            return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def retry_after(self) -> float:
        """Seconds until the breaker will let a probe through (0 when closed)."""
        with self._lock:
            if self._state is BreakerState.OPEN:
                return max(0.0, self._opened_at + self.open_s - self.clock())
            return 0.0

    def allow(self) -> bool:
        with self._lock:
            self._maybe_half_open()
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.HALF_OPEN and not self._probe_out:
                self._probe_out = True
                return True
            return False

    def probe_now(self) -> None:
        """Let the next call through as a probe even if ``open_s`` has not passed.

        For a call that must not wait out the open time: a worker's heartbeat (its
        lease runs meanwhile) and its last outbox flush on stop. A probe already out
        is not doubled; a closed breaker is left alone.
        """
        with self._lock:
            if self._state is BreakerState.OPEN:
                self._set(BreakerState.HALF_OPEN)

    def release_probe(self) -> None:
        """The call that was let through ended without a verdict (e.g. it was cancelled)."""
        with self._lock:
            self._probe_out = False

    def record_success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._probe_out = False
            self._set(BreakerState.CLOSED)

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            self._probe_out = False
            if self._state is BreakerState.HALF_OPEN or self._consecutive >= self.failures:
                self._opened_at = self.clock()
                self._set(BreakerState.OPEN)

    def _maybe_half_open(self) -> None:
        if self._state is BreakerState.OPEN and self.clock() - self._opened_at >= self.open_s:
            self._set(BreakerState.HALF_OPEN)

    def _set(self, new: BreakerState) -> None:
        old = self._state
        if old is not new:
            self._state = new
            if self.on_change is not None:
                self.on_change(self.name, old, new)
