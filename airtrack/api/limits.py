"""Rate limits on what untrusted callers can make the orchestrator create (a pure core).

A worker token is shared by the fleet and a worker machine may be compromised:
registering ever new worker ids would grow the store and the metrics without
bound, so new ids are let in at a bounded rate. The bucket lives in one
replica's memory (each replica admits its own share).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``per_min`` admissions a minute, in bursts of at most ``per_min``; clock injected."""

    per_min: int
    clock: Callable[[], float] = time.monotonic
    _level: float = field(init=False)
    _at: float = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._level = float(self.per_min)
        self._at = self.clock()

    def take(self) -> bool:
        """Admit one (True) or refuse (False: the caller answers 429)."""
        with self._lock:
            now = self.clock()
            elapsed = max(0.0, now - self._at)
            self._at = now
            self._level = min(float(self.per_min), self._level + elapsed * self.per_min / 60.0)
            if self._level >= 1.0:
                self._level -= 1.0
                return True
            return False

    def retry_after_s(self) -> float:
        """Seconds until the next admission is possible."""
        with self._lock:
            return max(0.0, (1.0 - self._level) * 60.0 / self.per_min)
