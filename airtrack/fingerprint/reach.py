"""Sparse evidence beyond a play's dense runs: how far its start reaches back and its end
reaches on through anchors too seldom to be dense (a faint intro under noise, a DJ over an
intro or outro), on one line of anchors (one track, speed and alignment)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P

__all__ = ["SPARSE_MIN", "SPARSE_S", "reach_back", "reach_on"]

_FPS = P.FRAMES_PER_S
#: Sparse evidence beyond the dense runs.  Where a song is heard only faintly (a quiet intro
#: under noise, a DJ over its intro or outro) its anchors on the play's line come too
#: seldom to be dense, yet still on that line (same track, speed and alignment within
#: ``FINE + 1`` frames).  A start reaches back, and an end on, through the anchors that have
#: ``SPARSE_MIN`` such anchors (beyond the dense run) within ``SPARSE_S`` on their side
#: toward it, along a chain of anchors on the line at most ``_LINK_S`` apart from the
#: dense run on, at most ``_REACH_S`` from the dense run.  Chance anchors, one now and then
#: on any line, come three to a window on none (bench/RESULTS-recognition.md: what each
#: bound changed).
SPARSE_S = 8.0
SPARSE_MIN = 3
_REACH_S = 25.0
#: The longest link of the chain (see above): a faint song's anchors come in clusters.
_LINK_S = 10.0


def reach_back(t: npt.NDArray[np.float64], first: float) -> float:
    """The earliest anchor of the sparse evidence before ``first`` in the sorted anchor
    frames ``t`` of one line (see ``SPARSE_S``), or ``first``."""
    w, link = SPARSE_S * _FPS, _LINK_S * _FPS
    s = t[(t < first) & (t >= first - _REACH_S * _FPS)]
    reached, nearer = first, first
    for i in range(s.shape[0] - 1, -1, -1):
        if nearer - s[i] > link:
            break
        nearer = float(s[i])
        if int(np.searchsorted(s, s[i] + w, "left")) - i >= SPARSE_MIN:
            reached = float(s[i])
    return reached


def reach_on(t: npt.NDArray[np.float64], last: float) -> float:
    """The last anchor of the sparse evidence after ``last`` in the sorted anchor frames
    ``t`` of one line (see ``SPARSE_S``), or ``last``."""
    w, link = SPARSE_S * _FPS, _LINK_S * _FPS
    s = t[(t > last) & (t <= last + _REACH_S * _FPS)]
    reached, nearer = last, last
    for i in range(s.shape[0]):
        if s[i] - nearer > link:
            break
        nearer = float(s[i])
        if i + 1 - int(np.searchsorted(s, s[i] - w, "right")) >= SPARSE_MIN:
            reached = float(s[i])
    return reached
