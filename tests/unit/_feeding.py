"""Feeding a streaming matcher as a live stream would: whole, or in blocks of given sizes."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import PlayEvent, StreamingMatcher


def feed_in_blocks(
    m: StreamingMatcher, audio: npt.NDArray[np.float32], cuts: list[int] | None
) -> list[PlayEvent]:
    """Every event of ``m`` fed ``audio`` whole (``cuts`` None) or in blocks of the sizes
    ``cuts`` (cycled), then closed."""
    if cuts is None:
        return m.feed(audio) + m.close()
    events: list[PlayEvent] = []
    i = 0
    for size in itertools.cycle(cuts):
        if i >= audio.shape[0]:
            break
        events.extend(m.feed(audio[i : i + size]))
        i += size
    return events + m.close()
