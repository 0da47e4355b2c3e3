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
from airtrack.fingerprint.index import NO_PROBE, Index
from airtrack.fingerprint.landmarks import Pairs, fine_keys

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
BIN = 3  # alignment histogram bin (frames)
TOL = 8  # frames: hits this close to a play's alignment belong to it
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


class HitStore:
    """The hit store: parallel arrays (query anchor frame ``t``, dense track ``tr``, speed
    index ``k``, alignment ``a``) sorted by ``t``, in preallocated buffers.  Appending writes
    in place and pruning moves a start index: no per-block copy of the whole history."""

    def __init__(self, capacity: int = 1 << 15) -> None:
        self.t = np.empty(capacity, np.int64)
        self.tr = np.empty(capacity, np.int64)
        self.k = np.empty(capacity, np.int64)
        self.a = np.empty(capacity, np.float64)
        self.lo = 0
        self.hi = 0

    @property
    def size(self) -> int:
        return self.hi - self.lo

    def append(self, t: Int64s, tr: Int64s, k: Int64s, a: Floats) -> None:
        n, live = t.shape[0], self.hi - self.lo
        if self.hi + n > self.t.shape[0]:
            cap = max(self.t.shape[0], 2 * (live + n))
            for name in ("t", "tr", "k", "a"):
                old = getattr(self, name)
                new = old if cap == old.shape[0] else np.empty(cap, old.dtype)
                new[:live] = old[self.lo : self.hi]
                setattr(self, name, new)
            self.lo, self.hi = 0, live
        end = self.hi + n  # callers append in time order
        self.t[self.hi : end] = t
        self.tr[self.hi : end] = tr
        self.k[self.hi : end] = k
        self.a[self.hi : end] = a
        self.hi = end

    def after(self, frame: float) -> int:
        """Buffer position of the first hit with ``t > frame``."""
        if not math.isfinite(frame):
            return self.lo if frame < 0 else self.hi
        # frames are whole: t > frame iff t > floor(frame), and an int key spares numpy
        # a float copy of the whole store on every search
        key = np.int64(math.floor(frame))
        return self.lo + int(np.searchsorted(self.t[self.lo : self.hi], key, "right"))

    def views(self, start: int | None = None) -> tuple[Int64s, Int64s, Int64s, Floats]:
        i = self.lo if start is None else start
        return self.t[i : self.hi], self.tr[i : self.hi], self.k[i : self.hi], self.a[i : self.hi]


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
    :func:`lookup_hits`), shape (rows, probes): those rows of :func:`probe_fines`."""
    pair, k = np.divmod(rows, len(speeds))
    return _probes(pairs, pair, speeds[k])


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
    hashes = hash_all_speeds(pairs, speeds, log_speeds).T.reshape(-1)
    # probes only for the rows whose bucket is narrowed (few at a small catalog)
    fines = functools.partial(probe_fines_rows, pairs, speeds)
    qrow, track, tref = index.lookup(hashes, max_postings=_MAX_POSTINGS, fines=fines)
    if qrow.size == 0:
        return
    i, k = np.divmod(qrow, s)
    t = pairs.t[i]
    align = t - tref.astype(np.float64) / speeds[k]
    hits.append(t, track.astype(np.int64), k, align)


def aligned(
    tr: Int64s, kk: Int64s, al: Floats, track: int, k: int, align: float
) -> npt.NDArray[np.bool_]:
    """Mask of the hits on (``track``, speed ``k``) within ``TOL`` frames of ``align``."""
    sel: npt.NDArray[np.bool_] = tr == track
    sel &= kk == k
    sel &= np.abs(al - align) <= TOL
    return sel


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
    ht, htr, hk, ha = hits.views(hits.after(since))
    if ht.shape[0] < threshold_evidence:
        return None
    # screened before the masks below: a bin strong among the hits they leave is strong
    # among all hits, so the screen keeps it (and the masks then run over few hits)
    bins = np.floor(ha / BIN).astype(np.int64)
    htr, hk, ha, ht, bins = _near_strong(htr, hk, ha, ht, bins, n_speeds, threshold_evidence)
    win = np.ones(ht.shape[0], np.bool_)
    for c_track, c_align in closed:
        win &= ~((htr == c_track) & (np.abs(ha - c_align) <= 4 * TOL))
    for o_track, o_until in on_air:
        win &= ~((htr == o_track) & (ht <= o_until))
    if np.count_nonzero(win) < threshold_evidence:
        return None
    tr, kk, al, tq, bins = htr[win], hk[win], ha[win], ht[win], bins[win]
    key = (tr * n_speeds + kk) * (1 << 32) + (bins + (1 << 31))
    # coarse: raw hit counts (≥ distinct anchors, so a safe filter); refined below
    uniq, counts = np.unique(key, return_counts=True)
    # merge each bin with its two neighbours (an alignment may straddle a bin edge)
    # (``uniq`` is sorted: a neighbour bin, when present, is the adjacent entry)
    merged = counts.copy()
    adjacent = uniq[1:] == uniq[:-1] + 1
    merged[:-1] += np.where(adjacent, counts[1:], 0)
    merged[1:] += np.where(adjacent, counts[:-1], 0)
    strong = np.flatnonzero(merged >= threshold_evidence)
    for i in strong[np.argsort(-merged[strong], kind="stable")][:_REFINE]:
        tk = int(uniq[i] >> 32)
        track, k = divmod(tk, n_speeds)
        same = np.nonzero((uniq >> 32 == tk) & (merged >= threshold_evidence))[0]
        found: list[tuple[float, int]] = []
        for j in same:
            bin_ = int(uniq[j] & 0xFFFFFFFF) - (1 << 31)
            near = (tr == track) & (kk == k) & (np.abs(bins - bin_) <= 1)
            align = float(np.median(al[near]))
            # evidence proper: distinct anchors on the alignment itself (±FINE frames);
            # chance coincidences scatter over the coarse bins, a real airing does not
            fine = near & (np.abs(al - align) <= FINE)
            evidence = int(np.unique(tq[fine]).shape[0])
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


#: fewest buckets of the screen in :func:`_near_strong`; it takes one per hit beyond that
#: (a fixed count filled with chance hits: at 100,000 tracks every bucket reached ``need``
#: and the screen kept every hit)
_SCREEN = 1 << 13


def _near_strong(
    tr: Int64s, kk: Int64s, al: Floats, tq: Int64s, bins: Int64s, n_speeds: int, need: float
) -> tuple[Int64s, Int64s, Floats, Int64s, Int64s]:
    """The hits that can matter to :func:`best_candidate`, found without sorting them all.

    Most hits in a window are chance hits, one per (track, speed, bin).  Hashing each
    (track, speed) to a shift of the bin keeps neighbouring bins neighbouring buckets, so a
    bucket's count with its two neighbours is at least the merged count of every bin in it:
    the hits kept (those within one bucket of a bucket reaching ``need``) include every
    strong bin and its two neighbours, and the candidate found is the same as from all hits.
    """
    if tr.shape[0] < 4 * need:
        return tr, kk, al, tq, bins
    size = max(_SCREEN, 1 << (tr.shape[0] - 1).bit_length())
    bucket = (bins + (tr * n_speeds + kk) * 7919) & (size - 1)
    count = np.bincount(bucket, minlength=size)
    merged = count.copy()  # + both neighbours, cyclically (slices: np.roll allocates)
    merged[1:] += count[:-1]
    merged[0] += count[-1]
    merged[:-1] += count[1:]
    merged[-1] += count[0]
    strong = merged >= need
    near = strong.copy()
    near[1:] |= strong[:-1]
    near[0] |= strong[-1]
    near[:-1] |= strong[1:]
    near[-1] |= strong[0]
    keep = near[bucket]
    return tr[keep], kk[keep], al[keep], tq[keep], bins[keep]
