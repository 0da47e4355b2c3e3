"""Hits, alignments and the evidence they give: how the matcher scores a candidate airing.

A query pair hashed at one speed that is found in the index is a *hit*: (query anchor frame,
track, speed index, alignment), the alignment being the query frame where that track's frame 0
would lie.  The true song piles its hits on one alignment; chance hits scatter.  Candidates
come from a coarse alignment histogram (``BIN``-frame bins); the evidence of a candidate is the
number of *distinct query anchors* within ±``FINE`` frames of its alignment in the window
(chords and repeated patterns give many hits from few anchors; chance hits spread over the
coarse bins), and confidence is a calibrated function of that evidence.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.hits import TOL, HitStore, aligned, bins_of
from airtrack.fingerprint.index import NO_PROBE, Index
from airtrack.fingerprint.landmarks import Pairs, fine_keys
from airtrack.fingerprint.sortstats import distinct_count, median, unique_counts

try:  # the C loops (setup.py); without a compiler the numpy reference does the same work
    from airtrack.fingerprint import _native
except ImportError:  # pragma: no cover - depends on the build
    _native = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_THRESHOLD",
    "FINE",
    "TOL",
    "Candidate",
    "HitStore",
    "aligned",
    "best_candidate",
    "confidence_of",
    "fines_all_speeds",
    "hash_all_speeds",
    "hashes_pair_major",
    "lookup_hits",
    "min_evidence",
    "probe_fines",
    "probe_fines_rows",
]

#: Plays with a confidence below this are not reported (same value on every station).
DEFAULT_THRESHOLD = 0.5
#: Confidence = 1 - exp(-(evidence - _NULL) / _SCALE), where evidence = distinct query
#: anchors (frames) whose pairs hit one (track, speed, alignment) within one window.
_NULL = 8.0
_SCALE = 8.5
FINE = 2  # frames: evidence counts anchors this close to the candidate's alignment
_REFINE = 4  # best coarse candidates refined per step
_REPEAT_RATIO = 0.6  # alignments of one track this close to the best count as a repeat
#: a hash (or, in a bigger bucket, a hash + fine key) in more places than this says
#: nothing: skipped.  Buckets up to this size are read whole, bigger ones by fine key.
_MAX_POSTINGS = 32

Int64s = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


def confidence_of(evidence: float) -> float:
    """Calibrated confidence in [0, 1) for the evidence (distinct aligned anchors) in a window."""
    return 1.0 - math.exp(-max(0.0, evidence - _NULL) / _SCALE)


def min_evidence(threshold: float) -> float:
    """The evidence whose confidence is ``threshold`` (the inverse of :func:`confidence_of`)."""
    return _NULL - _SCALE * math.log(max(1e-9, 1.0 - threshold))


def hash_all_speeds(
    pairs: Pairs, speeds: Floats, log_speeds: npt.NDArray[np.float64]
) -> npt.NDArray[np.uint32]:
    """Hashes of every pair at every speed, shape (speeds, pairs), in one pass.

    ``log_speeds`` is ``np.log(speeds)[:, None]`` (computed once per matcher).
    """
    q1 = np.floor((pairs.lnf1[None, :] - (log_speeds + P.LN_F_LO)) * (1.0 / P.Q_F1))
    q1 = np.clip(q1, 0, (1 << P.F1_BITS) - 1).astype(np.uint32)
    q2 = np.floor(pairs.df * (1.0 / P.Q_DF)) + (1 << (P.DF_BITS - 1))
    q2 = np.clip(q2, 0, (1 << P.DF_BITS) - 1).astype(np.uint32)
    q3 = np.rint(pairs.dt[None, :] * speeds[:, None])
    q3 = np.clip(q3, 1, (1 << P.DT_BITS) - 1).astype(np.uint32)
    out: npt.NDArray[np.uint32] = (q1 << (P.DF_BITS + P.DT_BITS)) | (q2 << P.DT_BITS) | q3
    return out


def hashes_pair_major(
    pairs: Pairs, speeds: Floats, log_speeds: npt.NDArray[np.float64]
) -> npt.NDArray[np.uint32]:
    """:func:`hash_all_speeds` pair-major and flat (row = pair × len(speeds) + speed index).

    In C when the extension is built (one pass, no (speeds × pairs) float temporaries and
    no transposed copy), else the numpy reference; both give the same hashes
    (``tests/unit/test_native.py``).
    """
    if _native is None:
        return hash_all_speeds(pairs, speeds, log_speeds).T.reshape(-1)
    out = np.empty(len(pairs) * speeds.shape[0], np.uint32)
    _native.hash_speeds(
        np.ascontiguousarray(pairs.lnf1, np.float32), np.ascontiguousarray(pairs.df, np.float32),
        np.ascontiguousarray(pairs.dt, np.int64), np.ascontiguousarray(speeds, np.float64),
        np.ascontiguousarray(log_speeds.reshape(-1) + P.LN_F_LO, np.float64),
        1.0 / P.Q_F1, 1.0 / P.Q_DF, P.F1_BITS, P.DF_BITS, P.DT_BITS, out,
    )  # fmt: skip
    return out


def fines_all_speeds(pairs: Pairs, speeds: Floats) -> npt.NDArray[np.uint16]:
    """Fine keys of every pair at every speed, shape (speeds, pairs)."""
    return fine_keys(pairs.fdf[None, :], pairs.fdt[None, :], speeds[:, None])


def probe_fines(pairs: Pairs, speeds: Floats) -> npt.NDArray[np.uint16]:
    """The fine keys a query pair probes, shape (speeds, pairs, probes): those of every
    other target of its anchor (itself when alone), each with dt -1, 0, +1 frame.

    The reference's sibling (the anchor's first or second target) is the query's own only
    about half the time on broadcast audio (a peak lost or added shifts the fanout) and its
    frame jitters by one (docs/scaling.md): probing them all keeps most true postings.
    """
    n = len(pairs)
    return _probes(pairs, np.arange(n)[None, :], speeds[:, None])


def probe_fines_rows(pairs: Pairs, speeds: Floats, rows: Int64s) -> npt.NDArray[np.uint16]:
    """The probes of query rows ``rows`` (row = pair × len(speeds) + speed index, as in
    :func:`lookup_hits`), shape (rows, probes): those rows of :func:`probe_fines`.

    In C when the extension is built (the anchor group of the asked rows only, not of every
    pair), else :func:`_probes`; both give the same probes (``tests/unit/test_native.py``).
    """
    if _native is None:
        pair, k = np.divmod(rows, len(speeds))
        return _probes(pairs, pair, speeds[k])
    out = np.empty((rows.shape[0], 3 * P.FANOUT), np.uint16)
    _native.probe_rows(
        np.ascontiguousarray(pairs.t, np.int64), np.ascontiguousarray(pairs.lnf1, np.float32),
        np.ascontiguousarray(pairs.df, np.float32), np.ascontiguousarray(pairs.dt, np.int64),
        np.ascontiguousarray(rows, np.int64), np.ascontiguousarray(speeds, np.float64),
        P.FANOUT, 1.0 / P.Q_FDF, P.FDF_BITS, P.FDT_BITS, NO_PROBE, out,
    )  # fmt: skip
    return out


def _probes(pairs: Pairs, pair: Int64s, speed: Floats) -> npt.NDArray[np.uint16]:
    """Probes of pairs ``pair`` heard at ``speed`` (broadcast together), probes last."""
    n = len(pairs)
    # each pair's anchor group (pairs come in anchor order): its first pair and size,
    # over every pair (cheap), then read at the pairs asked for
    new = np.ones(n, np.bool_)
    new[1:] = (pairs.t[1:] != pairs.t[:-1]) | (pairs.lnf1[1:] != pairs.lnf1[:-1])
    pos = np.arange(n)
    start = np.maximum.accumulate(np.where(new, pos, 0)) if n else pos
    ends = np.flatnonzero(np.append(new[1:], True)) if n else pos
    size = (ends - np.flatnonzero(new) + 1)[np.cumsum(new) - 1] if n else pos
    shape = np.broadcast_shapes(pair.shape, speed.shape)
    # every target j of the group and dt shift d at once (axes ..., j, d): a block asks
    # for few rows, so the cost is numpy calls, not elements
    j = np.arange(P.FANOUT)
    size = size[pair][..., None]
    s = start[pair][..., None] + j
    valid = (j < size) & ((s != pair[..., None]) | (size == 1))
    s = np.minimum(s, max(0, n - 1))
    key = fine_keys(pairs.df[s], pairs.dt[s], speed[..., None]).astype(np.int64)
    dt_mask = (1 << P.FDT_BITS) - 1
    dt = (key & dt_mask)[..., None] + np.array([-1, 0, 1])
    ok = valid[..., None] & (dt >= 1) & (dt <= dt_mask)
    out = np.where(ok, (key & ~dt_mask)[..., None] | dt, NO_PROBE).astype(np.uint16)
    return out.reshape(*shape, 3 * P.FANOUT)


def lookup_hits(
    index: Index,
    pairs: Pairs,
    speeds: Floats,
    log_speeds: npt.NDArray[np.float64],
    hits: HitStore,
) -> None:
    """Look every pair up at every speed and append the hits (in time order) to ``hits``."""
    s = len(speeds)
    # pair-major (pairs come in anchor order): the hits come out sorted by time
    hashes = hashes_pair_major(pairs, speeds, log_speeds)
    # probes only for the rows whose bucket is narrowed (few at a small catalog)
    fines = functools.partial(probe_fines_rows, pairs, speeds)
    qrow, track, tref = index.lookup(hashes, max_postings=_MAX_POSTINGS, fines=fines)
    if qrow.size == 0:
        return
    i, k = _rows(qrow, s)
    t = pairs.t[i]
    align = t - tref.astype(np.float64) / speeds[k]
    hits.append(t, track, k, align)


@dataclass(frozen=True, slots=True)
class Candidate:
    """The strongest new airing in a window: dense track, speed index, alignment, evidence."""

    track: int
    k: int
    align: float
    evidence: int
    #: the alignments about as strong as the chosen one (a song that repeats a section
    #: matches at each of its positions), the chosen one included
    rivals: tuple[float, ...] = ()


def best_candidate(
    hits: HitStore,
    since: float,
    threshold_evidence: float,
    n_speeds: int,
    closed: Sequence[tuple[int, float]],
    on_air: Sequence[tuple[int, float]] = (),
) -> Candidate | None:
    """The strongest airing among the hits after frame ``since`` with enough evidence.

    ``closed`` holds (track, alignment) of the airings on air or recently ended (their
    tail must not reopen them) and of alignments already weighed and set aside.  For each
    (track, frame) in ``on_air`` (a track with an open airing) the track's hits up to that
    frame are not candidates: they are the airing's, its repeated sections included, and
    only what the track does after its line stopped can be a jump or a new airing.
    """
    start = hits.after(since)
    if hits.hi - start < threshold_evidence:
        return None
    # screened before the masks below: a bin strong among the hits they leave is strong
    # among all hits, so the screen keeps it (and the masks then run over few hits)
    kept = hits.screen(start, threshold_evidence)
    if kept.shape[0] < threshold_evidence:  # (most windows: no bin anywhere near strong)
        return None
    ht, htr, hk, ha = hits.take(kept)
    bins = bins_of(ha)
    win = np.ones(ht.shape[0], np.bool_)
    for c_track, c_align in closed:
        win &= ~((htr == c_track) & (np.abs(ha - c_align) <= 4 * TOL))
    for o_track, o_until in on_air:
        win &= ~((htr == o_track) & (ht <= o_until))
    if np.count_nonzero(win) < threshold_evidence:
        return None
    tr, kk, al, tq, bins = htr[win], hk[win], ha[win], ht[win], bins[win]
    hit_tk = tr * n_speeds + kk
    key = hit_tk * (1 << 32) + (bins + (1 << 31))
    # coarse: raw hit counts (≥ distinct anchors, so a safe filter); refined below
    uniq, counts = unique_counts(key)
    # merge each bin with its two neighbours (an alignment may straddle a bin edge)
    # (``uniq`` is sorted: a neighbour bin, when present, is the adjacent entry)
    merged = counts.copy()
    adjacent = uniq[1:] == uniq[:-1] + 1
    merged[:-1] += np.where(adjacent, counts[1:], 0)
    merged[1:] += np.where(adjacent, counts[:-1], 0)
    is_strong = merged >= threshold_evidence
    strong = np.flatnonzero(is_strong)
    if strong.shape[0] == 0:
        return None
    tks = uniq >> 32
    for i in strong[np.argsort(-merged[strong], kind="stable")][:_REFINE]:
        tk = int(tks[i])
        track, k = divmod(tk, n_speeds)
        same = np.flatnonzero(is_strong & (tks == tk))
        mine = np.flatnonzero(hit_tk == tk)  # once per (track, speed), not per bin
        m_al, m_bins, m_tq = al[mine], bins[mine], tq[mine]
        found: list[tuple[float, int]] = []
        for j in same.tolist():
            bin_ = int(uniq[j] & 0xFFFFFFFF) - (1 << 31)
            near = np.abs(m_bins - bin_) <= 1
            n_al, n_tq = m_al[near], m_tq[near]
            align = median(n_al)
            # evidence proper: distinct anchors on the alignment itself (±FINE frames);
            # chance coincidences scatter over the coarse bins, a real airing does not
            evidence = distinct_count(n_tq[np.abs(n_al - align) <= FINE])
            if evidence >= threshold_evidence:
                found.append((align, evidence))
        if found:
            # a song that repeats a section matches at several alignments: of those
            # about as strong as the best, take the earliest position in the track
            top = max(e for _, e in found)
            rivals = [(a, e) for a, e in found if e >= _REPEAT_RATIO * top]
            align, evidence = max(rivals)
            return Candidate(track, k, align, evidence, tuple(a for a, _ in rivals))
    return None


def _rows(qrow: Int64s, s: int) -> tuple[Int64s, Int64s]:
    """``np.divmod(qrow, s)``, the remainder by a product: numpy divides an int64 array by
    a scalar quickly, but its remainder is several times slower than the quotient (at
    100,000 tracks a step looks ≈ 100,000 postings up)."""
    i = qrow // s
    k = qrow - i * s
    return i, k
