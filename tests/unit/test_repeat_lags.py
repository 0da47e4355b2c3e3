"""Properties (hypothesis) of ``template.repeat_lags``: the lags at which a track's opening
comes again, read from its template's peaks, which a play's start uses to try the frame 0
of a copy of that opening the hits have not shown yet (``airing.Airings._reach_back``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.fingerprint.template import repeat_lags

SPAN, MAX_LAG = 900, 900  # frames: a start's 30-s look at ~30 frames a second


def _peaks(rng: np.random.Generator, frames: int, per_frame: float) -> tuple[np.ndarray, ...]:
    n = int(frames * per_frame)
    return np.sort(rng.integers(0, frames, n)), rng.integers(0, 217, n)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    length=st.integers(SPAN // 4, SPAN // 2),
    extra=st.floats(0.0, 1.0),
    jitter=st.booleans(),
)
def test_a_repeated_opening_gives_its_lag(
    seed: int, length: int, extra: float, jitter: bool
) -> None:
    """An opening of ``length`` frames (a quarter to a half of the span looked at: the share
    asked is 15 % of its peaks) that comes again ``lag`` frames on (each copied peak a frame
    off, at times, as a new analysis of the same audio places it) gives that lag.  The lag
    stays a frame inside ``MAX_LAG``: at ``MAX_LAG`` itself the copies a frame late lie
    past the look (a third of them, with jitter), and the rest may fall short of the share."""
    lag = length + int(extra * (MAX_LAG - 1 - length))
    rng = np.random.default_rng(seed)
    t, q = _peaks(rng, 2400, 0.4)
    first = t < length
    copy_t = t[first] + lag + (rng.integers(-1, 2, int(first.sum())) if jitter else 0)
    keep = (t < lag) | (t >= lag + length)  # the copy replaces what was there
    t2 = np.concatenate([t[keep], copy_t])
    q2 = np.concatenate([q[keep], q[first]])
    order = np.argsort(t2, kind="stable")
    lags = repeat_lags(t2[order], q2[order], span=SPAN, max_lag=MAX_LAG, share=0.15)
    assert any(abs(found - lag) <= 1 for found in lags), (lags, lag)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), per_frame=st.floats(0.05, 1.0))
def test_peaks_that_do_not_repeat_give_no_lag(seed: int, per_frame: float) -> None:
    """Peaks at random (a song without a repeated opening): no lag reaches the share."""
    t, q = _peaks(np.random.default_rng(seed), 2400, per_frame)
    assert repeat_lags(t, q, span=SPAN, max_lag=MAX_LAG, share=0.15) == []


def test_no_peaks_no_lags() -> None:
    empty = np.zeros(0, np.int64)
    assert repeat_lags(empty, empty, span=SPAN, max_lag=MAX_LAG, share=0.15) == []
