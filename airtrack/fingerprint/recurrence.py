"""Recurring audio nobody identified: sampled prints of unmatched stretches, aligned.

Discovery looks for audio that airs more than once (a jingle, an ad, a song not in the
catalog yet) among the archived query prints no play covers. It uses the matcher's own
evidence, scaled down:

- **Points.** Each archived pair is hashed exactly as the matcher hashes it
  (:func:`~airtrack.fingerprint.landmarks.hash_pairs` at speed 1). A point is kept when
  its hash is a multiple of ``sample`` (the same subset at every airing of the same audio,
  so sampling keeps alignment) and is not *trivial*: a pair within one frequency step
  (a held tone, hum, a carrier) matches anything at any offset.
- **Alignment.** A new point and a window point with the same hash vote for an offset
  (new time - old time). The same audio aired twice piles its votes on one offset;
  chance hits scatter. Votes are chained along the offset (neighbours closer than
  ``tol_s``), then split into runs along time (holes longer than ``run_gap_s``).
- **A link** is a run with at least ``min_hits`` votes spread over ``min_s`` seconds and
  enough distinct hashes (a few hashes repeated is a texture, not a recording). Random
  speech never aligns; silence has no peaks. Within one stream, offsets shorter than
  ``repeat_gap_s`` are a song's own repeated sections, not a recurrence.
- **Components.** Links of one pass are grouped into connected stretches
  (:func:`components`): the airings of one unknown, before they meet the stored ones.

Pure: numpy arrays in, plain data out (property-tested in tests/unit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.landmarks import Pairs, hash_pairs

__all__ = [
    "JOIN_AIRING",
    "SAME_AIRING",
    "Link",
    "Points",
    "PrintWindow",
    "Stretch",
    "components",
    "find_links",
    "same_airing",
    "sample_points",
]

_FPS = P.FRAMES_PER_S
#: A stretch reaches this far before its first sampled anchor (the next sampled point
#: may come a little after the audio starts) and after its last (that anchor's targets
#: lie up to 2 s later, about 1 s on average).
_LEAD = 0.5
_TAIL = 1.0
#: Two stretches of one stream are one airing when they overlap by this share of their
#: union (:func:`same_airing`).
SAME_AIRING = 0.75
#: A stretch may join a stored airing it overlaps by this share of the shorter (a song's
#: chorus inside its airing; the next piece of an airing cut across segments).
JOIN_AIRING = 0.5
#: Query points looked up at once (the votes, ~100 B each, are this × the bucket sizes).
_QUERY_BLOCK = 8192
_BLOCK_OVERLAP_S = 120.0
#: log2 of the hashed table that counts votes per offset bin (8 MB of counts)
_TABLE_BITS = 20
#: A hash this frequent in the window says nothing (a texture): its votes are skipped.
_BUCKET_CAP = 4000


@dataclass(frozen=True)
class Points:
    """Sampled prints: ``hashes`` (uint32) heard at wall ``times`` (s) on ``streams``."""

    hashes: npt.NDArray[np.uint32]
    times: npt.NDArray[np.float64]
    streams: npt.NDArray[np.int64]

    @staticmethod
    def empty() -> Points:
        return Points(np.zeros(0, np.uint32), np.zeros(0, np.float64), np.zeros(0, np.int64))

    @staticmethod
    def concat(parts: list[Points]) -> Points:
        if not parts:
            return Points.empty()
        return Points(
            np.concatenate([p.hashes for p in parts]),
            np.concatenate([p.times for p in parts]),
            np.concatenate([p.streams for p in parts]),
        )

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> Points:
        return Points(self.hashes[mask], self.times[mask], self.streams[mask])

    def __len__(self) -> int:
        return int(self.hashes.shape[0])


def sample_points(
    pairs: Pairs,
    start: float,
    stream: int,
    *,
    sample: int,
    keep: npt.NDArray[np.bool_] | None = None,
) -> Points:
    """The sampled, non-trivial points of one segment's ``pairs`` (anchor frames from
    wall time ``start``); ``keep`` masks the pairs that may count (not covered by a play)."""
    if not len(pairs):
        return Points.empty()
    hashes, _ = hash_pairs(pairs, 1.0)
    q2 = np.floor(pairs.df * (1.0 / P.Q_DF))
    mask = (hashes % np.uint32(max(1, sample)) == 0) & (q2 != 0) & (q2 != -1)
    if keep is not None:
        mask &= keep
    times = start + pairs.t[mask] / _FPS
    return Points(hashes[mask], times, np.full(times.shape[0], stream, np.int64))


class PrintWindow:
    """Past points by hash, for at most ``window_s`` seconds and ``max_points`` points.

    Chunks sorted by hash (one per :meth:`add`); when there are more than
    ``_MAX_CHUNKS`` they are merged into one, dropping what fell out of the window (and
    the oldest points beyond ``max_points``)."""

    _MAX_CHUNKS = 24

    def __init__(self, window_s: float, max_points: int) -> None:
        self.window_s = window_s
        self.max_points = max_points
        self.chunks: list[Points] = []
        self.newest = float("-inf")

    def __len__(self) -> int:
        return sum(len(c) for c in self.chunks)

    def add(self, pts: Points) -> None:
        if not len(pts):
            return
        self.newest = max(self.newest, float(pts.times.max()))
        order = np.argsort(pts.hashes, kind="stable")
        self.chunks.append(pts.select(order))
        if len(self.chunks) > self._MAX_CHUNKS or len(self) > self.max_points:
            self.compact()

    def compact(self) -> None:
        """One chunk of the points still in the window (the newest ``max_points``)."""
        merged = Points.concat(self.chunks)
        merged = merged.select(merged.times >= self.newest - self.window_s)
        if len(merged) > self.max_points:
            cut = np.argsort(merged.times, kind="stable")[len(merged) - self.max_points :]
            merged = merged.select(np.sort(cut))
        order = np.argsort(merged.hashes, kind="stable")
        self.chunks = [merged.select(order)] if len(merged) else []

    def lookup(self, hashes: npt.NDArray[np.uint32]) -> tuple[npt.NDArray[np.int64], Points]:
        """Every window point with one of ``hashes``: (query row, the point), buckets
        bigger than the cap skipped."""
        rows: list[npt.NDArray[np.int64]] = []
        found: list[Points] = []
        oldest = self.newest - self.window_s
        for chunk in self.chunks:
            lo = np.searchsorted(chunk.hashes, hashes, "left")
            hi = np.searchsorted(chunk.hashes, hashes, "right")
            n = hi - lo
            n[n > _BUCKET_CAP] = 0
            total = int(n.sum())
            if total == 0:
                continue
            q = np.repeat(np.arange(hashes.shape[0], dtype=np.int64), n)
            first = np.repeat(lo - np.cumsum(n) + n, n)
            at = first + np.arange(total)
            got = chunk.select(at)
            live = got.times >= oldest
            rows.append(q[live])
            found.append(got.select(live))
        if not rows:
            return np.zeros(0, np.int64), Points.empty()
        return np.concatenate(rows), Points.concat(found)


@dataclass(frozen=True, slots=True, order=True)
class Stretch:
    """A stretch of one stream, wall seconds."""

    stream: int
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Link:
    """Two stretches that are airings of the same audio (``a`` the newer), ``hits`` votes."""

    a: Stretch
    b: Stretch
    hits: int


def find_links(
    new: Points,
    window: PrintWindow,
    *,
    min_hits: int,
    min_s: float,
    repeat_gap_s: float,
    tol_s: float = 0.2,
    run_gap_s: float = 5.0,
    min_distinct: float = 0.6,
) -> list[Link]:
    """The stretches of ``new`` that air again in ``window`` (which may hold ``new``).

    Looked up one stream at a time, in blocks of at most ``_QUERY_BLOCK`` points (each
    with the ``_BLOCK_OVERLAP_S`` before it, so a run across two blocks is whole in one):
    the votes of one block stay small whatever the backlog."""
    opts = (min_hits, min_s, repeat_gap_s, tol_s, run_gap_s, min_distinct)
    links: list[Link] = []
    for sid in np.unique(new.streams).tolist():
        mine = new.select(new.streams == sid)
        mine = mine.select(np.argsort(mine.times, kind="stable"))
        for lo in range(0, len(mine), _QUERY_BLOCK):
            first = float(mine.times[lo])
            start = int(np.searchsorted(mine.times, first - _BLOCK_OVERLAP_S, "left"))
            links.extend(_links(mine.select(np.arange(start, min(len(mine), lo + _QUERY_BLOCK))),
                                window, *opts))  # fmt: skip
    return links


def _links(
    new: Points,
    window: PrintWindow,
    min_hits: int,
    min_s: float,
    repeat_gap_s: float,
    tol_s: float,
    run_gap_s: float,
    min_distinct: float,
) -> list[Link]:
    if not len(new):
        return []
    qi, old = window.lookup(new.hashes)
    if not qi.shape[0]:
        return []
    qt, qs, qh = new.times[qi], new.streams[qi], new.hashes[qi]
    off = qt - old.times
    ok = (qs != old.streams) | (np.abs(off) >= max(repeat_gap_s, min_s))
    ok &= _dense(old.streams, off, min_hits, tol_s)
    qt, qs, qh, off = qt[ok], qs[ok], qh[ok], off[ok]
    wt, ws = old.times[ok], old.streams[ok]
    if not qt.shape[0]:
        return []
    order = np.lexsort((off, ws, qs))
    qt, qs, qh, off, wt, ws = (a[order] for a in (qt, qs, qh, off, wt, ws))
    brk = np.ones(qt.shape[0], np.bool_)
    brk[1:] = (qs[1:] != qs[:-1]) | (ws[1:] != ws[:-1]) | (np.diff(off) > tol_s)
    starts = np.flatnonzero(brk)
    counts = np.diff(np.append(starts, qt.shape[0]))
    links: list[Link] = []
    for s0, n in zip(starts[counts >= min_hits], counts[counts >= min_hits], strict=True):
        sl = slice(int(s0), int(s0 + n))
        links.extend(
            _runs(qt[sl], wt[sl], qh[sl], int(qs[s0]), int(ws[s0]), min_hits, min_s, run_gap_s,
                  min_distinct)
        )  # fmt: skip
    return links


def _dense(
    streams: npt.NDArray[np.int64], off: npt.NDArray[np.float64], min_hits: int, tol_s: float
) -> npt.NDArray[np.bool_]:
    """Votes that may belong to a run: at least ``min_hits`` votes for (about) the same
    offset. Counted in a hashed table of coarse offset bins, no sort: nearly every
    vote is chance and is dropped here (a collision only keeps a few more)."""
    width = max(2.0 * tol_s, 0.25)
    coarse = np.floor(off / width).astype(np.int64)
    key = (streams.astype(np.uint64) << np.uint64(32)) ^ coarse.astype(np.uint64)

    def slot(k: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        return ((k * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - _TABLE_BITS)).astype(np.int64)

    here = slot(key)
    counts = np.bincount(here, minlength=1 << _TABLE_BITS)
    one = np.uint64(1)
    near = counts[here] + counts[slot(key - one)] + counts[slot(key + one)]
    return near >= min_hits


def _runs(
    qt: npt.NDArray[np.float64],
    wt: npt.NDArray[np.float64],
    qh: npt.NDArray[np.uint32],
    qs: int,
    ws: int,
    min_hits: int,
    min_s: float,
    run_gap_s: float,
    min_distinct: float,
) -> list[Link]:
    order = np.argsort(qt, kind="stable")
    qt, wt, qh = qt[order], wt[order], qh[order]
    cuts = np.flatnonzero(np.diff(qt) > run_gap_s) + 1
    out: list[Link] = []
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, qt.shape[0]], strict=True):
        n = int(b - a)
        if n < min_hits:
            continue
        t, w = qt[a:b], wt[a:b]
        # the audio a run stands for: its first anchor to the targets of its last one
        if float(t[-1] - t[0]) + _LEAD + _TAIL < min_s:
            continue
        # the same sample point voting twice (a chord held) is one vote of evidence
        if np.unique(qh[a:b]).shape[0] < min_distinct * n:
            continue
        out.append(
            Link(
                Stretch(qs, float(t[0]) - _LEAD, float(t[-1]) + _TAIL),
                Stretch(ws, float(w.min()) - _LEAD, float(w.max()) + _TAIL),
                n,
            )
        )
    return out


def same_airing(x: Stretch, y: Stretch) -> bool:
    """Whether two stretches of one pass are one airing: one stream, overlapping by
    ``SAME_AIRING`` of their union (a stretch spanning a jingle and the song after it is
    not the jingle's airing; unknowns.sql joins stored airings by the same rules)."""
    if x.stream != y.stream:
        return False
    overlap = min(x.end, y.end) - max(x.start, y.start)
    union = max(x.end, y.end) - min(x.start, y.start)
    return overlap > 0 and overlap >= SAME_AIRING * union


def components(links: list[Link]) -> list[list[Stretch]]:
    """Stretches joined by links or by being one airing (:func:`same_airing`), each
    component's airings merged into one stretch each, sorted."""
    nodes: list[Stretch] = []
    for link in links:
        nodes.extend((link.a, link.b))
    parent = list(range(len(nodes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    for k in range(0, len(nodes), 2):
        union(k, k + 1)

    def join_airings(items: list[tuple[Stretch, int]]) -> bool:
        """Union the nodes of the stretches that are one airing; whether any joined."""
        joined = False
        items = sorted(items, key=lambda it: (it[0].stream, it[0].start))
        for x, (s, i) in enumerate(items):  # a stream's stretches by start: overlaps nearby
            for o, j in items[x + 1 :]:
                if o.stream != s.stream or o.start >= s.end:
                    break
                if find(i) != find(j) and same_airing(s, o):
                    union(i, j)
                    joined = True
        return joined

    join_airings([(s, i) for i, s in enumerate(nodes)])
    groups: dict[int, list[Stretch]] = {}
    for i, s in enumerate(nodes):
        groups.setdefault(find(i), []).append(s)
    merged = {root: _merged(g) for root, g in groups.items()}
    # a component's airing widened by merging can be one airing with another component's
    # stretch that none of its own parts was: join those too, until none is
    while join_airings([(s, root) for root, ss in merged.items() for s in ss]):
        regrouped: dict[int, list[Stretch]] = {}
        for root, ss in merged.items():
            regrouped.setdefault(find(root), []).extend(ss)
        merged = {root: _merged(g) for root, g in regrouped.items()}
    return [g for _, g in sorted(merged.items())]


def _merged(stretches: list[Stretch]) -> list[Stretch]:
    """One stretch per airing (a stretch joins the airing it is the same airing as)."""
    out = sorted(stretches)
    merged = True
    while merged:  # a widened airing may now be one with another: again until none is
        merged = False
        done: list[Stretch] = []
        for s in out:
            for k, o in enumerate(done):
                if same_airing(o, s):
                    done[k] = Stretch(s.stream, min(o.start, s.start), max(o.end, s.end))
                    merged = True
                    break
            else:
                done.append(s)
        out = sorted(done)
    return out
