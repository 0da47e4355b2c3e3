"""The hit store, and the two questions the matcher asks of it without reading every hit.

A hit is (query anchor frame ``t``, dense track ``tr``, speed index ``k``, alignment ``a``);
at a big catalog nearly all are chance hits (≈ 20 postings per query row at 100,000 tracks,
≈ 100,000 hits per 4-s step), so what the matcher does per step must not be proportional to
the hits it holds:

* :meth:`HitStore.screen`: the hits after a frame that can matter to a candidate (those of
  an alignment bin that is strong, or beside one).  Each hit gets a *screen bucket* when it
  is stored (its (track, speed) hashed to a shift of its bin, so neighbouring bins are
  neighbouring buckets), and the store keeps the count per bucket of the hits after the
  frame asked last: moving that frame adds and takes away only the hits that entered or
  left, and a bucket with its two neighbours at least counts every bin in it, so the
  buckets that can hold a strong bin are found from the counts alone.
* :meth:`HitStore.line`: the hits on one (track, speed) within ``TOL`` frames of an
  alignment, found through the same buckets (the few bins such a hit can lie in).

Both answer exactly what the plain masks over every hit answer
(``tests/unit/test_evidence_screen.py``): the buckets only set hits aside.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["BIN", "TOL", "HitStore", "aligned"]

BIN = 3  # alignment histogram bin (frames)
TOL = 8  # frames: hits this close to a play's alignment belong to it
#: fewest buckets of the screen; the store takes more (a power of two) when a window holds
#: more hits than that (a fixed count filled with chance hits: at 100,000 tracks every
#: bucket reached the evidence needed and the screen kept every hit)
SCREEN_MIN = 1 << 13
#: (track, speed) → bucket shift: ``(track * 8 + speed) * _MIX`` (collisions only keep a
#: few more hits)
_MIX = 7919

Int64s = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
_NONE = np.zeros(0, np.int64)
_AROUND = np.array([-1, 0, 1], np.int64)
_ONE = np.int32(1)  # (a value of the counts' own type: numpy's fast path of ufunc.at)


def aligned(
    tr: npt.NDArray[np.integer],
    kk: npt.NDArray[np.integer],
    al: Floats,
    track: int,
    k: int,
    align: float,
) -> npt.NDArray[np.bool_]:
    """Mask of the hits on (``track``, speed ``k``) within ``TOL`` frames of ``align``."""
    sel: npt.NDArray[np.bool_] = tr == track
    sel &= kk == k
    sel &= np.abs(al - align) <= TOL
    return sel


def bins_of(al: Floats) -> Int64s:
    """The alignment bins (``BIN`` frames) of alignments ``al``: the one formula the
    screen and the candidate search share (a hit must fall in the same bin in both)."""
    q = al / BIN
    out: Int64s = np.floor(q, out=q).astype(np.int64)
    return out


class HitStore:
    """The hit store: parallel arrays (query anchor frame ``t``, dense track ``tr``, speed
    index ``k``, alignment ``a``, screen bucket ``b``) sorted by ``t``, in preallocated
    buffers.  Appending writes in place and pruning moves a start index: no per-block copy
    of the whole history.  A track and a bucket take 4 bytes, a speed index 1 (25 bytes a
    hit: a store holds ~40 s of hits, over a million at 100,000 tracks)."""

    def __init__(self, capacity: int = 1 << 15) -> None:
        self.t = np.empty(capacity, np.int64)
        self.tr = np.empty(capacity, np.int32)
        self.k = np.empty(capacity, np.int8)
        self.a = np.empty(capacity, np.float64)
        self.b = np.empty(capacity, np.int32)
        self.lo = 0
        self.hi = 0
        # the screen: bucket count (a power of two), hits per bucket of positions
        # [_c_lo, _c_hi), a scratch mark per bucket (all False between calls), and the
        # last answer (start, end, need) -> positions
        self._size = SCREEN_MIN
        self._counts = np.zeros(self._size, np.int32)
        self._mark = np.zeros(self._size, np.bool_)
        self._c_lo = 0
        self._c_hi = 0
        self._last: tuple[int, int, float, Int64s] | None = None

    @property
    def size(self) -> int:
        return self.hi - self.lo

    def append(
        self, t: Int64s, tr: npt.NDArray[np.integer], k: npt.NDArray[np.integer], a: Floats
    ) -> None:
        """Add hits that come after every stored one (tracks below 2**31, speeds below 128)."""
        n, live = t.shape[0], self.hi - self.lo
        if self.hi + n > self.t.shape[0]:
            self._compact(max(self.t.shape[0], 2 * (live + n)))
        end = self.hi + n  # callers append in time order
        self.t[self.hi : end] = t
        self.tr[self.hi : end] = tr
        self.k[self.hi : end] = k
        self.a[self.hi : end] = a
        self.b[self.hi : end] = self._buckets(tr, k, a)
        self.hi = end

    def _buckets(
        self, tr: npt.NDArray[np.integer], k: npt.NDArray[np.integer], a: Floats
    ) -> Int64s:
        """The screen buckets of hits (tracks ``tr``, speeds ``k``, alignments ``a``)."""
        bucket = bins_of(a)
        bucket += np.multiply(tr, 8 * _MIX, dtype=np.int64)
        bucket += np.multiply(k, _MIX, dtype=np.int64)
        bucket &= self._size - 1
        return bucket

    def _compact(self, cap: int) -> None:
        """Move the live hits to the front of buffers of ``cap`` hits."""
        if self._c_lo < self.lo:  # counted hits about to be dropped: uncount them
            self._uncount(self._c_lo, min(self.lo, self._c_hi))
            self._c_lo = min(self.lo, self._c_hi)
        live = self.hi - self.lo
        for name in ("t", "tr", "k", "a", "b"):
            old = getattr(self, name)
            new = old if cap == old.shape[0] else np.empty(cap, old.dtype)
            new[:live] = old[self.lo : self.hi]
            setattr(self, name, new)
        shift = self.lo
        self._c_lo, self._c_hi = max(0, self._c_lo - shift), max(0, self._c_hi - shift)
        self.lo, self.hi = 0, live
        self._last = None

    def after(self, frame: float) -> int:
        """Buffer position of the first hit with ``t > frame``."""
        if not math.isfinite(frame):
            return self.lo if frame < 0 else self.hi
        # frames are whole: t > frame iff t > floor(frame), and an int key spares numpy
        # a float copy of the whole store on every search
        key = np.int64(math.floor(frame))
        return self.lo + int(np.searchsorted(self.t[self.lo : self.hi], key, "right"))

    def views(self, start: int | None = None) -> tuple[Int64s, Int64s, Int64s, Floats]:
        """(t, tr, k, a) of the hits from ``start`` (default: all), tracks and speeds as
        int64 copies, the others views."""
        i = self.lo if start is None else start
        tr = self.tr[i : self.hi].astype(np.int64)
        return self.t[i : self.hi], tr, self.k[i : self.hi].astype(np.int64), self.a[i : self.hi]

    def take(self, pos: Int64s) -> tuple[Int64s, Int64s, Int64s, Floats]:
        """(t, tr, k, a) of the hits at buffer positions ``pos`` (tracks and speeds int64)."""
        tr, k = self.tr[pos].astype(np.int64), self.k[pos].astype(np.int64)
        return self.t[pos], tr, k, self.a[pos]

    # -- the screen ----------------------------------------------------------------------
    def screen(self, start: int, need: float) -> Int64s:
        """Buffer positions (in time order) of the hits from ``start`` on that lie in an
        alignment bin of their (track, speed) whose count with its two neighbour bins
        reaches ``need``, or beside such a bin; and maybe a few more (hash collisions).

        A bucket's count with its two neighbours is at least the merged count of every
        bin in it: the hits kept (those within one bucket of a bucket reaching ``need``)
        hold every strong bin and its two neighbours, all a candidate search reads.
        """
        end = self.hi
        if end - start < 4 * need:
            return np.arange(start, end, dtype=np.int64)
        if self._last is not None and self._last[:3] == (start, end, need):
            return self._last[3]
        self._count(start, end)
        c, mask = self._counts, self._size - 1
        # a triple of buckets reaching ``need`` holds one with a third of it
        hot = np.flatnonzero(c >= need / 3.0)
        kept = _NONE
        if hot.shape[0]:
            cand = (hot[:, None] + _AROUND).reshape(-1) & mask
            merged = c[(cand - 1) & mask] + c[cand] + c[(cand + 1) & mask]
            strong = cand[merged >= need]
            if strong.shape[0]:
                kept = self._marked((strong[:, None] + _AROUND).reshape(-1) & mask, start, end)
        self._last = (start, end, need, kept)
        return kept

    def line(self, start: int, track: int, k: int, align: float) -> Int64s:
        """Buffer positions (in time order) of the hits from ``start`` on that lie on
        (``track``, speed ``k``) within ``TOL`` frames of ``align``: where
        :func:`aligned` is true over ``views(start)``."""
        if start >= self.hi:
            return _NONE
        # every bin such a hit can fall in, one more each side for the rounding of
        # ``align ± TOL`` (the exact test below decides)
        first, last = math.floor((align - TOL) / BIN) - 1, math.floor((align + TOL) / BIN) + 1
        base = (track * 8 + k) * _MIX
        buckets = (np.arange(first, last + 1, dtype=np.int64) + base) & (self._size - 1)
        pos = self._marked(buckets, start, self.hi)
        on = aligned(self.tr[pos], self.k[pos], self.a[pos], track, k, align)
        out: Int64s = pos[on]
        return out

    def _marked(self, buckets: Int64s, start: int, end: int) -> Int64s:
        """Positions in [start, end) of the hits whose bucket is one of ``buckets``."""
        mark = self._mark
        mark[buckets] = True
        pos = np.flatnonzero(np.take(mark, self.b[start:end]))
        mark[buckets] = False
        pos += start
        return pos

    def _count(self, start: int, end: int) -> None:
        """Make the counts those of the hits at positions [start, end)."""
        if end - start > self._size:
            self._grow(end - start)
        if start >= self._c_hi or self._c_lo >= end:  # nothing counted is kept: recount
            self._counts[:] = 0
            self._c_lo = self._c_hi = start
        if start > self._c_lo:
            self._uncount(self._c_lo, start)
        elif start < self._c_lo:
            np.add.at(self._counts, self.b[start : self._c_lo], _ONE)
        if end > self._c_hi:
            np.add.at(self._counts, self.b[self._c_hi : end], _ONE)
        self._c_lo, self._c_hi = start, end

    def _uncount(self, lo: int, hi: int) -> None:
        np.subtract.at(self._counts, self.b[lo:hi], _ONE)

    def _grow(self, hits: int) -> None:
        """More buckets than ``hits`` (one per hit): every stored hit's bucket again."""
        self._size = 1 << (hits - 1).bit_length()
        self._counts = np.zeros(self._size, np.int32)
        self._mark = np.zeros(self._size, np.bool_)
        lo, hi = self.lo, self.hi
        self.b[lo:hi] = self._buckets(self.tr[lo:hi], self.k[lo:hi], self.a[lo:hi])
        self._c_lo = self._c_hi = lo
        self._last = None
