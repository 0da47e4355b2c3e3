"""Backoff and the circuit breaker, with an injected clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airtrack.resilience import BreakerState, CircuitBreaker, backoff_delay


@given(st.integers(1, 30), st.floats(0.01, 1), st.floats(0.1, 10))
def test_backoff_is_bounded_and_jittered(attempt: int, base: float, cap: float) -> None:
    d = min(cap, base * 2 ** (attempt - 1))
    lo = backoff_delay(attempt, base=base, cap=cap, rng=lambda: 0.0)
    hi = backoff_delay(attempt, base=base, cap=cap, rng=lambda: 1.0)
    assert lo == d / 2 and hi == d


def test_breaker_opens_fails_fast_and_probes_back() -> None:
    now = [0.0]
    b = CircuitBreaker("t", failures=3, open_s=10, clock=lambda: now[0])
    for _ in range(3):
        assert b.allow()
        b.record_failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    now[0] = 10.0
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow() and not b.allow(), "exactly one probe at a time"
    b.record_failure()
    assert b.state is BreakerState.OPEN
    now[0] = 20.0
    assert b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.allow()


def test_cancelled_probe_does_not_wedge_the_breaker() -> None:
    now = [0.0]
    b = CircuitBreaker("t", failures=1, open_s=1, clock=lambda: now[0])
    b.record_failure()
    now[0] = 1.0
    assert b.allow()
    b.release_probe()
    assert b.allow(), "after a cancelled probe another probe may go"
