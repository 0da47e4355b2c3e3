"""A connection's time origin follows the live edge, also for a source whose clock runs slow."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.worker.session import ORIGIN_WINDOW_S, Session


@settings(max_examples=40, deadline=None)
@given(ppm=st.floats(-1500, 1500), burst_s=st.floats(0, 5), seed=st.integers(0, 2**32 - 1))
def test_origin_tracks_the_live_edge(ppm: float, burst_s: float, seed: int) -> None:
    """Blocks of 2 s for 20 min from a source running ``ppm`` off real time, delayed by
    up to 0.8 s of network jitter: play times stay within the clock error accumulated over
    one origin window (not over the whole connection) plus the recent minimum delay."""
    jitter = [float(x) for x in np.random.default_rng(seed).uniform(0, 0.8, 600)]
    rate = 1.0 + ppm * 1e-6  # seconds of audio the source sends per second of wall time
    t0 = 1_000_000.0
    clock = [t0]
    session = Session(lambda: clock[0])
    aired_at = t0 - burst_s  # wall time at which the first sample of this connection aired
    session.on_block(burst_s) if burst_s else None
    audio = burst_s
    for delay in jitter:
        audio += 2.0
        live = aired_at + audio / rate  # when the block's last sample aired
        clock[0] = max(clock[0], live + delay)
        session.on_block(2.0)
    # a sample at audio position `audio` aired at aired_at + audio / rate
    got = session.wall_of(audio).timestamp()
    truth = aired_at + audio / rate
    drift = ORIGIN_WINDOW_S * abs(ppm) * 1e-6  # what a slow clock adds within one window
    slack = min(jitter[-60:]) + 0.05
    assert truth - drift - 0.05 <= got <= truth + slack + drift, (got - truth, ppm)
    assert abs(got - truth) < 0.05 + 0.8 + 0.2, "never the whole connection's drift"


def test_wall_of_is_utc() -> None:
    s = Session(lambda: 1_000.0)
    s.on_block(1.0)
    assert s.wall_of(0.0) == datetime.fromtimestamp(999.0, UTC)
