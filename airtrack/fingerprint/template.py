"""A track's template: the peaks of its prints, as the play-boundary reach reads them.

Each print's hash holds its anchor's frequency (``Q_F1`` steps of ln f), the target's ratio
to it (``Q_DF`` steps) and their distance in frames: with the anchor's frame, the two peaks.
A peak is kept once (an anchor is in up to ``FANOUT`` prints, a target in several) as
(track frame, bin), sorted by frame then bin: the bin is ln f in ``Q_F1`` steps, rounded, less
``BIN_BASE`` (every frequency a hash can give, 96 Hz to 9.9 kHz, is one of 217 bins: a byte).

The index stores every track's template beside its postings (``Index.template``): the
postings are addressed by hash, and finding one track's prints there is a pass over them all.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.sortstats import distinct

__all__ = [
    "BIN_BASE",
    "bin_hz",
    "repeat_lags",
    "smallest",
    "template_peaks",
    "templates_of",
    "track_templates",
]

Ints = npt.NDArray[np.int64]
_Q_BITS = 16  # a peak's bin in the packed sort key (ln f / Q_F1 < 2**16 for any f < 1e600 Hz)
_T_BITS = 24  # its frame (2**24 frames: 43 hours at 93 frames a second)
#: postings whose templates are made at once when an index is built (~100 B each meanwhile)
_GROUP = 1 << 22


#: the lowest bin a hash can give (its lowest anchor step, its lowest ratio step)
BIN_BASE = math.floor((P.LN_F_LO + 0.5 * P.Q_F1 - ((1 << (P.DF_BITS - 1)) - 0.5) * P.Q_DF) / P.Q_F1)


def bin_hz(bins: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
    """The frequency (Hz) of template bins."""
    out: npt.NDArray[np.float64] = np.exp((bins.astype(np.float64) + BIN_BASE) * P.Q_F1)
    return out


def _peaks(hashes: npt.NDArray[np.integer], times: npt.NDArray[np.integer]) -> tuple[Ints, Ints]:
    """(frame, bin) of every print's anchor then every print's target (with repeats)."""
    h = hashes.astype(np.int64)
    t = times.astype(np.int64)
    q1 = h >> (P.DF_BITS + P.DT_BITS)
    q2 = (h >> P.DT_BITS) & ((1 << P.DF_BITS) - 1)
    q3 = h & ((1 << P.DT_BITS) - 1)
    f1 = np.exp(P.LN_F_LO + (q1 + 0.5) * P.Q_F1)  # at the middle of their steps
    f2 = f1 * np.exp((q2 - (1 << (P.DF_BITS - 1)) + 0.5) * P.Q_DF)
    q = np.rint(np.log(np.concatenate((f1, f2))) / P.Q_F1).astype(np.int64) - BIN_BASE
    return np.concatenate((t, t + q3)), q


def template_peaks(
    hashes: npt.NDArray[np.integer], times: npt.NDArray[np.integer]
) -> tuple[Ints, Ints]:
    """One track's template from its prints' ``hashes`` and anchor ``times``: (frame, bin)
    of each distinct peak, sorted by frame then bin (a peak's Hz: :func:`bin_hz`)."""
    t, q = _peaks(hashes, times)
    u = distinct((t << _Q_BITS) | q)
    return u >> _Q_BITS, u & ((1 << _Q_BITS) - 1)


def templates_of(
    tracks: npt.NDArray[np.integer],
    hashes: npt.NDArray[np.integer],
    times: npt.NDArray[np.integer],
    n_tracks: int,
) -> tuple[Ints, Ints, Ints]:
    """The templates of many tracks at once from their postings (dense track, hash, anchor
    frame; any order): (offsets (n_tracks + 1), frames, bins), track ``k``'s peaks at rows
    ``offsets[k]:offsets[k+1]``, each as :func:`template_peaks` gives them.  Memory: ~50 B
    per posting given (the caller passes a group of tracks at a time for a big catalog)."""
    t, q = _peaks(hashes, times)
    k = np.tile(tracks.astype(np.int64), 2)
    u = distinct((k << (_T_BITS + _Q_BITS)) | (t << _Q_BITS) | q)
    counts = np.bincount(u >> (_T_BITS + _Q_BITS), minlength=n_tracks)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return offsets, (u >> _Q_BITS) & ((1 << _T_BITS) - 1), u & ((1 << _Q_BITS) - 1)


def track_templates(
    hashes: list[npt.NDArray[np.uint32]], times: list[npt.NDArray[np.uint32]]
) -> tuple[Ints, npt.NDArray[np.unsignedinteger], npt.NDArray[np.unsignedinteger]]:
    """The templates of tracks given one array of hashes and one of times each, as
    :func:`templates_of` gives them (frames as uint16 when they fit, bins as uint8), made
    ``_GROUP`` postings' worth of tracks at a time: memory stays bounded at any catalog."""
    counts: list[Ints] = []
    ts: list[npt.NDArray[np.unsignedinteger]] = []
    qs: list[npt.NDArray[np.unsignedinteger]] = []
    a = 0
    while a < len(hashes):
        b, size = a + 1, hashes[a].shape[0]
        while b < len(hashes) and size + hashes[b].shape[0] <= _GROUP:
            size += hashes[b].shape[0]
            b += 1
        k = np.repeat(np.arange(b - a, dtype=np.int64), [h.shape[0] for h in hashes[a:b]])
        o, t, q = templates_of(k, np.concatenate(hashes[a:b]), np.concatenate(times[a:b]), b - a)
        counts.append(np.diff(o))
        ts.append(t.astype(np.uint32))
        qs.append(q.astype(np.uint16))
        a = b
    offsets = np.concatenate(([0], np.cumsum(np.concatenate(counts) if counts else []))).astype(
        np.int64
    )
    t_all = np.concatenate(ts) if ts else np.zeros(0, np.uint32)
    q_all = np.concatenate(qs) if qs else np.zeros(0, np.uint16)
    return (
        offsets,
        smallest(t_all.astype(np.int64), (np.uint16, np.uint32)),
        smallest(q_all.astype(np.int64), (np.uint8, np.uint16)),
    )


def smallest(
    arr: Ints, dtypes: tuple[type[np.unsignedinteger], ...]
) -> npt.NDArray[np.unsignedinteger]:
    """``arr`` as the first of ``dtypes`` that holds its values (the last one otherwise)."""
    top = int(arr.max()) if arr.size else 0
    for dtype in dtypes:
        if top <= np.iinfo(dtype).max:
            return arr.astype(dtype)
    return arr.astype(dtypes[-1])


def repeat_lags(
    t: npt.NDArray[np.integer],
    q: npt.NDArray[np.integer],
    *,
    span: int,
    max_lag: int,
    share: float,
    most: int = 4,
) -> list[int]:
    """The lags (track frames, at most ``max_lag``) at which the track's first ``span``
    frames come again: a template's peaks (frames ``t``, bins ``q``) that meet a peak of
    the same bin that many frames later (±1), for at least ``share`` of the peaks there;
    the ``most`` strongest, each the peak of its neighbourhood (a song that repeats its
    opening 11 s on gives 11 s, and 22 s if it comes a third time)."""
    keep = np.asarray(t) < span + max_lag
    tt, qq = np.asarray(t, np.int64)[keep], np.asarray(q, np.int64)[keep]
    n_first = int(np.count_nonzero(tt < span))
    if n_first == 0:
        return []
    order = np.lexsort((tt, qq))
    tt, qq = tt[order], qq[order]
    counts = np.zeros(max_lag + 2, np.int64)
    for j in range(1, tt.shape[0]):
        d = tt[j:] - tt[:-j]
        ok = (qq[j:] == qq[:-j]) & (d <= max_lag) & (tt[:-j] < span)
        if not ok.any():
            if not ((qq[j:] == qq[:-j]) & (d <= max_lag)).any():
                break  # no bin holds two peaks this close any more
            continue
        counts += np.bincount(d[ok], minlength=max_lag + 2)[: max_lag + 2]
    merged = counts.copy()
    merged[1:-1] += counts[:-2] + counts[2:]
    out: list[int] = []
    for lag in np.argsort(-merged, kind="stable").tolist():
        if merged[lag] < share * n_first or len(out) == most:
            break
        if lag > 2 and all(abs(lag - o) > 2 for o in out):
            out.append(int(lag))
    return out
