"""The catalog index: every track's hashes in compact, hash-addressed arrays.

Layout (all numpy, one file on disk, memory-mapped on load):
``starts`` (2**HASH_BITS + 1, uint32) — postings of hash ``h`` are rows ``starts[h]:starts[h+1]``
of ``keys`` (uint32: dense track number << FINE_BITS | the posting's fine key; at most 2**20
tracks) and ``times`` (anchor frame in the track: uint16 when every track is under 35 min,
else uint32): 6 B per posting.  A bucket's postings are sorted by fine key, then track.
``track_ids`` (int64) maps dense numbers to catalog ids; ``durations`` (float32, seconds).
Beside them, optional (a file without them loads; a reader that does not know them skips
them): the per-second density histogram, and every track's template
(``airtrack.fingerprint.template``: track ``k``'s peaks are rows
``template_offsets[k]:template_offsets[k+1]`` of ``template_t`` and ``template_q``, ~1.1 B
per posting), which ``template(k)`` reads alone; and the fine-key fences
(``airtrack.fingerprint.fences``: every 512th and every 16th posting's fine key, ~0.13 B per
posting).
A lookup is two array reads per query hash; a bucket too big to read whole is narrowed to
the postings of the query's fine keys by a binary search, inside the fences' samples first
when the index has them (~3 random reads instead of ~14 at 100,000 tracks; the same rows).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from airtrack.errors import AudioError, IndexFileError
from airtrack.fingerprint import params as P
from airtrack.fingerprint.fences import FENCE_STEPS, Fences, fence_narrow, fences_of
from airtrack.fingerprint.landmarks import unpack_prints
from airtrack.fingerprint.template import track_templates

try:  # the C lookup (setup.py); without it, the numpy reference
    from airtrack.fingerprint import _native
except ImportError:  # pragma: no cover - depends on the build
    _native = None  # type: ignore[assignment]

__all__ = ["NO_PROBE", "FineProbes", "Index"]

_MAGIC = b"ATIX\x01\n"
_ALIGN = 64
_ARRAYS = ("starts", "keys", "times", "track_ids", "durations")
#: The density histogram, saved beside them (a file without it builds it on first use;
#: readers that do not know it skip it: the format and ``version`` stay the same)
_DENSITY = ("density_offsets", "density_hist")
#: Every track's template (``airtrack.fingerprint.template``), saved the same way: track
#: ``k``'s peaks are rows ``template_offsets[k]:template_offsets[k+1]`` of the other two
_TEMPLATE = ("template_offsets", "template_t", "template_q")
#: The fine-key fences (``airtrack.fingerprint.fences``), saved the same way, coarse then fine;
#: their steps are in the file's header (``fence_steps``)
_FENCES = ("fence_coarse", "fence_fine")
Templates = tuple[
    npt.NDArray[np.int64], npt.NDArray[np.unsignedinteger], npt.NDArray[np.unsignedinteger]
]
#: a fine-key probe that reads nothing (fine keys have ``FINE_BITS`` < 16 bits)
NO_PROBE = 0xFFFF
#: the query's fine-key probes: an array (one row per query hash, or a flat one probe per
#: hash), or a provider of the probes of given query rows (ascending), shape (rows, probes):
#: only the rows whose bucket is narrowed need them, and at a small catalog those are few
FineProbes = npt.NDArray[np.uint16] | Callable[[npt.NDArray[np.int64]], npt.NDArray[np.uint16]]
#: times are stored as uint16 frames when they fit (6 B per posting instead of 8)
_TIME16_MAX = (1 << 16) - 1
_FINE_MASK = (1 << P.FINE_BITS) - 1
#: postings per pass when building the per-second density histogram
_DENSITY_STEP = 1 << 24
#: dense track numbers share a uint32 with the fine key
MAX_TRACKS = 1 << (32 - P.FINE_BITS)


class Index:
    """Hash-addressed postings of the whole catalog (immutable once built)."""

    def __init__(
        self,
        starts: npt.NDArray[np.uint32],
        keys: npt.NDArray[np.uint32],
        times: npt.NDArray[np.uint32],
        track_ids: npt.NDArray[np.int64],
        durations: npt.NDArray[np.float32],
        version: str | None = None,
        has_fines: bool = True,
    ) -> None:
        """From the stored arrays (``keys`` = dense track << FINE_BITS | fine key)."""
        # plain ndarray views (a memmap stays mapped underneath): indexing a np.memmap
        # subclass costs a Python call per lookup
        self.starts = np.asarray(starts)
        self.keys = np.asarray(keys)
        self.times = np.asarray(times)
        self.track_ids = np.asarray(track_ids)
        self.durations = np.asarray(durations)
        # no fine keys (an index built from bare arrays): big buckets are only capped
        self._has_fines = has_fines
        self._mmap = (starts, keys, times)  # keep the maps alive
        self.version = version or self._content_version()
        self._density: tuple[npt.NDArray[np.int64], npt.NDArray[np.unsignedinteger]] | None = None
        self._density_saved = False  # _density was read from the file
        self._templates: Templates | None = None
        self._fences: Fences | None = None
        self._fence_steps = FENCE_STEPS
        #: output rows a native lookup allocates per query row (grows with what it finds)
        self._per_row = 4.0

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        items: Iterable[tuple[int, bytes]],
        on_bad: Callable[[int, str], None] | None = None,
    ) -> Index:
        """Build from ``(track_id, pack_prints(...))`` pairs (e.g. rows of the tracks table).

        A blob that cannot be unpacked raises ``AudioError``, or, with ``on_bad``, is left
        out and reported as ``on_bad(track_id, reason)``: one bad track must not stop a
        catalog from being built."""
        ids: list[int] = []
        durations: list[float] = []
        hashes: list[npt.NDArray[np.uint32]] = []
        times: list[npt.NDArray[np.uint32]] = []
        fines: list[npt.NDArray[np.uint16]] = []
        counts: list[int] = []
        seen: set[int] = set()
        for track_id, blob in items:
            if track_id in seen:
                raise IndexFileError(f"track {track_id} given twice to Index.build")
            seen.add(track_id)
            try:
                prints = unpack_prints(blob)
            except AudioError as exc:
                if on_bad is None:
                    raise
                on_bad(int(track_id), str(exc))
                continue
            ids.append(int(track_id))
            durations.append(prints.duration_s)
            hashes.append(prints.hashes)
            times.append(prints.times)
            fines.append(prints.fines)
            counts.append(len(prints))
        return cls.from_arrays(ids, durations, hashes, times, counts, fines)

    @classmethod
    def from_arrays(
        cls,
        ids: list[int],
        durations: list[float],
        hashes: list[npt.NDArray[np.uint32]],
        times: list[npt.NDArray[np.uint32]],
        counts: list[int],
        fines: list[npt.NDArray[np.uint16]] | None = None,
    ) -> Index:
        all_h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint32)
        all_t = np.concatenate(times) if times else np.zeros(0, np.uint32)
        all_k = np.repeat(np.arange(len(ids), dtype=np.uint32), counts)
        all_f = None
        if fines is not None:
            all_f = np.concatenate(fines) if fines else np.zeros(0, np.uint16)
            # stable sort on (hash, fine key): a key's postings stay in track order
            key = (all_h.astype(np.uint64) << np.uint64(16)) | all_f.astype(np.uint64)
            order = np.argsort(key, kind="stable")
        else:
            order = np.argsort(all_h, kind="stable")
        sorted_h = all_h[order]
        starts = np.searchsorted(sorted_h, np.arange((1 << P.HASH_BITS) + 1, dtype=np.uint64))
        fits16 = all_t.size == 0 or int(all_t.max()) <= _TIME16_MAX
        if len(ids) > MAX_TRACKS:
            raise IndexFileError(f"{len(ids)} tracks: one index holds at most {MAX_TRACKS}")
        keys = all_k[order] << np.uint32(P.FINE_BITS)
        if all_f is not None:
            keys |= all_f[order].astype(np.uint32)
        index = cls(
            starts.astype(np.uint32),
            keys,
            all_t[order].astype(np.uint16 if fits16 else np.uint32),
            np.asarray(ids, dtype=np.int64),
            np.asarray(durations, dtype=np.float32),
            has_fines=all_f is not None,
        )
        index.set_templates(track_templates(hashes, times))
        if all_f is not None:
            index.set_fences(fences_of(keys))
        return index

    def set_templates(self, templates: Templates) -> None:
        """Give the index its tracks' templates (offsets, frames, bins: see ``_TEMPLATE``)."""
        offsets, t, q = (np.asarray(a) for a in templates)
        if offsets.shape != (self.n_tracks + 1,) or t.shape != q.shape:
            raise IndexFileError(f"templates of shape {offsets.shape}, {t.shape}, {q.shape}")
        self._templates = (offsets, t, q)  # type: ignore[assignment]

    def set_fences(self, fences: Fences, steps: tuple[int, int] = FENCE_STEPS) -> None:
        """Give the index its fine-key fences (:func:`fences_of` its ``keys``, ``steps``)."""
        coarse, fine = (np.asarray(a) for a in fences)
        n = self.n_hashes
        for fence, step in zip((coarse, fine), steps, strict=True):
            # the C loop divides by shifting: steps are powers of two
            bad = step < 1 or step & (step - 1) or fence.dtype != np.uint16
            if bad or fence.shape != (-(-n // step),):
                raise IndexFileError(f"a fence of {fence.shape} {fence.dtype}, step {step}")
        self._fences = (coarse, fine)
        self._fence_steps = (int(steps[0]), int(steps[1]))

    @property
    def has_fences(self) -> bool:
        return self._fences is not None

    @property
    def has_templates(self) -> bool:
        return self._templates is not None

    def template(
        self, track: int
    ) -> tuple[npt.NDArray[np.unsignedinteger], npt.NDArray[np.unsignedinteger]]:
        """Dense ``track``'s template: (frame, bin) per peak (Hz: ``template.bin_hz``), views
        of its rows only (of a loaded index: nothing read but them).  Needs templates."""
        if self._templates is None:
            raise IndexFileError("this index holds no templates")
        offsets, t, q = self._templates
        lo, hi = int(offsets[track]), int(offsets[track + 1])
        return t[lo:hi], q[lo:hi]

    def _content_version(self) -> str:
        digest = hashlib.sha256(f"v{P.PRINTS_VERSION}-f{int(self._has_fines)}".encode())
        for name in _ARRAYS:
            digest.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        return digest.hexdigest()[:20]

    # -- queries ----------------------------------------------------------------------------
    @property
    def n_tracks(self) -> int:
        return int(self.track_ids.shape[0])

    @property
    def n_hashes(self) -> int:
        return int(self.keys.shape[0])

    @property
    def tracks(self) -> npt.NDArray[np.uint32]:
        """Dense track of every posting (a whole-array pass: for tests and tools)."""
        return self.keys >> np.uint32(P.FINE_BITS)

    @property
    def fines(self) -> npt.NDArray[np.uint16]:
        """Fine key of every posting (a whole-array pass: for tests and tools)."""
        return (self.keys & np.uint32(_FINE_MASK)).astype(np.uint16)

    def lookup(
        self,
        hashes: npt.NDArray[np.uint32],
        max_postings: int | None = None,
        fines: FineProbes | None = None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
        """All postings of ``hashes``: (query row, dense track, track frame) per posting.

        With ``fines`` (the query's fine keys per hash: shape (n,) or (n, probes), unused
        probes ``NO_PROBE``; or a ``FineProbes`` provider, asked for the narrowed rows
        only), a hash with more than ``max_postings`` postings (every hash if
        ``max_postings`` is None) gives only its postings of those fine keys (each once).
        Hashes (or fine sub-ranges) with more than ``max_postings`` postings are skipped
        (too common to tell).  Postings come out in query-row order.
        """
        if _native is not None and self.keys.dtype == np.uint32:
            return self._lookup_native(hashes, max_postings, fines)
        return self.lookup_reference(hashes, max_postings, fines)

    def lookup_reference(
        self,
        hashes: npt.NDArray[np.uint32],
        max_postings: int | None = None,
        fines: FineProbes | None = None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
        """:meth:`lookup` in numpy: the reference the C loop must match."""
        q, lo, hi = self.ranges(hashes, max_postings or 0, fines)
        cnt = hi - lo
        if max_postings is not None:
            cnt[cnt > max_postings] = 0
        qrow, keys, times = self.gather(q, lo, lo + cnt)
        return qrow, keys >> np.uint32(P.FINE_BITS), times

    def _lookup_native(
        self,
        hashes: npt.NDArray[np.uint32],
        max_postings: int | None,
        fines: FineProbes | None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
        """:meth:`lookup` with the narrowing and the gathering in one C pass (row order)."""
        assert _native is not None
        n = hashes.shape[0]
        lo = self.starts[hashes].astype(np.int64)
        hi = self.starts[hashes + np.uint32(1)].astype(np.int64)
        big = np.zeros(0, np.int64)
        probes = np.zeros((0, 1), np.uint16)
        if fines is not None and self._has_fines:
            big = np.flatnonzero(hi - lo > (max_postings or 0))
            if big.size:
                given = fines(big) if callable(fines) else fines.reshape(n, -1)[big]
                probes = np.ascontiguousarray(given, np.uint16).reshape(big.shape[0], -1)
        # the outputs are sized from the postings per query row seen so far: a call that
        # finds more than fit is run again, bigger, and at 100,000 tracks (~20 postings
        # per row) a fixed 4 per row made every lookup search and gather twice
        cap = max(1 << 12, int(n * self._per_row) + 1)
        coarse, fine = self._fences or (np.zeros(0, np.uint16), np.zeros(0, np.uint16))
        while True:
            q = np.empty(cap, np.int64)
            track, frame = np.empty(cap, np.uint32), np.empty(cap, np.uint32)
            found = _native.gather(
                np.ascontiguousarray(self.keys), np.ascontiguousarray(self.times), lo, hi,
                big, probes, probes.shape[1], NO_PROBE,
                -1 if max_postings is None else max_postings, P.FINE_BITS, q, track, frame,
                coarse, self._fence_steps[0], fine, self._fence_steps[1],
            )  # fmt: skip
            if n:
                self._per_row = max(self._per_row, 1.25 * found / n)
            if found <= cap:
                return q[:found], track[:found], frame[:found]
            cap = found

    def ranges(
        self,
        hashes: npt.NDArray[np.uint32],
        narrow: int | npt.NDArray[np.bool_],
        fines: FineProbes | None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Posting ranges (query row, lo, hi) of ``hashes``, in query-row order: a whole
        bucket per hash, except the narrowed ones (given ``fines``), which give one range
        per distinct fine key probed.  ``narrow``: the buckets bigger than this (``lookup``
        passes its cap), or a mask (a segmented index: by its live total over segments)."""
        lo = self.starts[hashes].astype(np.int64)
        hi = self.starts[hashes + np.uint32(1)].astype(np.int64)
        q = np.arange(hashes.shape[0], dtype=np.int64)
        if fines is not None and self._has_fines:
            wide = hi - lo > narrow if isinstance(narrow, int) else narrow & (hi > lo)
            big = np.flatnonzero(wide)
            if big.size:
                probes = fines(big) if callable(fines) else fines.reshape(q.shape[0], -1)[big]
                q, lo, hi = self._narrow(q, lo, hi, big, probes)
        return q, lo, hi

    def gather(
        self, q: npt.NDArray[np.int64], lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
        """The postings of ranges ``[lo, hi)``: (query row, stored key, track frame)."""
        cnt = hi - lo
        nz = np.flatnonzero(cnt)  # the ranges with postings: the repeats below skip the rest
        q, cnt, lo = q[nz], cnt[nz], lo[nz]
        total = int(cnt.sum())
        if total == 0:
            empty = np.zeros(0, np.uint32)
            return np.zeros(0, np.int64), empty, empty
        qrow = np.repeat(q, cnt)
        first = np.cumsum(cnt) - cnt
        rows = np.arange(total, dtype=np.int64) - np.repeat(first - lo, cnt)
        return qrow, self.keys[rows], self.times[rows].astype(np.uint32)

    def _narrow(
        self,
        q: npt.NDArray[np.int64],
        lo: npt.NDArray[np.int64],
        hi: npt.NDArray[np.int64],
        big: npt.NDArray[np.int64],
        fines: npt.NDArray[np.uint16],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Ranges (query row, lo, hi): the ``big`` rows' replaced by one per distinct probe
        (``fines``: the probes of the ``big`` rows, one row each)."""
        probes = np.sort(fines.astype(np.int64), axis=1)
        probes[:, 1:][probes[:, 1:] == probes[:, :-1]] = NO_PROBE  # a key is read once
        rows, col = np.nonzero(probes != NO_PROBE)
        want = probes[rows, col]
        b_lo, b_hi = lo[big][rows], hi[big][rows]
        # the 7 speeds often give the same (hash, fine key): each sub-range is searched once
        # (the search is the lookup's main cost: random reads in the mapped postings)
        uniq, first, inv = np.unique((b_lo << 16) | want, return_index=True, return_inverse=True)
        u = uniq.shape[0]
        bounds = self._first_at_least(
            np.tile(uniq >> 16, 2),
            np.tile(b_hi[first], 2),
            np.concatenate((uniq & 0xFFFF, (uniq & 0xFFFF) + 1)),
        )
        a, b = bounds[:u][inv], bounds[u:][inv]
        keep = np.ones(q.shape[0], np.bool_)
        keep[big] = False
        q = np.concatenate((q[keep], big[rows]))
        order = np.argsort(q, kind="stable")  # query-row order (the matcher's time order)
        return q[order], np.concatenate((lo[keep], a))[order], np.concatenate((hi[keep], b))[order]

    def _first_at_least(
        self, lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64], want: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]:
        """Per range ``[lo, hi)`` of postings (sorted by fine key within), the first row whose
        fine key is ≥ ``want`` (``hi`` if none): all ranges bisected together, branch-free
        (a fixed pass count, no compaction: fewer numpy calls per halving), inside the
        interval of the fences' samples that holds it when the index has fences."""
        if self._fences is not None:
            for fence, step in zip(self._fences, self._fence_steps, strict=True):
                lo, hi = fence_narrow(fence, step, lo, hi, want)
        lo = lo.copy()
        n = hi - lo
        last = max(0, self.keys.shape[0] - 1)
        mask = np.uint32(_FINE_MASK)
        while n.size and int(n.max()) > 0:
            half = n >> 1
            mid = lo + half
            go = (self.keys[np.minimum(mid, last)] & mask) < want
            go &= n > 0
            lo = np.where(go, mid + 1, lo)
            n = np.where(go, n - half - 1, half)
        return lo

    def prints_between(self, track: int, t0: float, t1: float) -> int:
        """How many prints dense ``track`` holds with anchor frame in ``[t0, t1)`` (±1 s).

        From a per-second histogram of every track (:meth:`build_density`, on first use):
        the matcher asks it when it decides where an airing started.
        """
        offsets, hist = self._density or self.build_density()
        lo, hi = int(offsets[track]), int(offsets[track + 1])
        fps = P.SAMPLE_RATE / P.HOP
        a = lo + min(hi - lo, max(0, int(t0 / fps)))
        b = lo + min(hi - lo, max(0, int(t1 / fps)))
        return int(hist[a:b].sum(dtype=np.int64)) if b > a else 0

    def build_density(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.unsignedinteger]]:
        """The per-second print histogram of every track: 2 B per track-second (44 MB at
        100,000 tracks), built 16 M postings at a time (all at once, its int64 temporaries
        took ~40 B per posting: 65 GB at 100,000 tracks).  An index loaded from a file that
        carries it (:meth:`save` writes it) has nothing to build: that one is returned."""
        if self._density is not None and self._density_saved:
            return self._density
        secs = np.ceil(self.durations.astype(np.float64)).astype(np.int64) + 2
        offsets = np.concatenate(([0], np.cumsum(secs)))
        hist = np.zeros(int(offsets[-1]), np.uint32)
        for i in range(0, self.n_hashes, _DENSITY_STEP):
            sec = (self.times[i : i + _DENSITY_STEP].astype(np.int64) * P.HOP) // P.SAMPLE_RATE
            tr = (self.keys[i : i + _DENSITY_STEP] >> np.uint32(P.FINE_BITS)).astype(np.int64)
            sec = np.minimum(sec, secs[tr] - 1)
            hist += np.bincount(offsets[tr] + sec, minlength=hist.shape[0]).astype(np.uint32)
        # a second holds ~80 prints: uint16 unless some track is pathological
        small = hist.size == 0 or int(hist.max()) <= np.iinfo(np.uint16).max
        self._density = (offsets, hist.astype(np.uint16) if small else hist)
        return self._density

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write one file (written to a temp name, then renamed: readers never see half),
        with the density histogram (built now if it was not: every loader is spared it)."""
        target = Path(path)
        offsets, hist = self._density or self.build_density()
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays.update(density_offsets=offsets, density_hist=hist)
        if self._templates is not None:
            arrays.update(zip(_TEMPLATE, self._templates, strict=True))
        header: dict[str, object] = {
            "version": self.version,
            "prints": P.PRINTS_VERSION,
            "fines": self._has_fines,
        }
        if self._fences is not None:
            arrays.update(zip(_FENCES, self._fences, strict=True))
            header["fence_steps"] = list(self._fence_steps)
        layout: dict[str, list[object]] = {}
        offset = 0
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            layout[name] = [arr.dtype.str, list(arr.shape), offset]
            offset += -(-arr.nbytes // _ALIGN) * _ALIGN
        header["arrays"] = layout
        head = json.dumps(header).encode()
        base = -(-(len(_MAGIC) + 8 + len(head)) // _ALIGN) * _ALIGN
        tmp = target.with_name(target.name + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(_MAGIC + len(head).to_bytes(8, "little") + head)
            for name, arr in arrays.items():
                arr = np.ascontiguousarray(arr)
                fh.seek(base + int(layout[name][2]))  # type: ignore[call-overload]
                fh.write(arr.tobytes())
            fh.truncate(base + offset)
        os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, mmap: bool = True) -> Index:
        """Load a saved index, memory-mapped (shared page cache) unless ``mmap=False``."""
        name = os.fspath(path)
        try:
            with open(name, "rb") as fh:
                magic = fh.read(len(_MAGIC))
                if magic != _MAGIC:
                    raise IndexFileError(f"{name}: not an airtrack index file")
                size = int.from_bytes(fh.read(8), "little")
                header = json.loads(fh.read(size))
        except (OSError, ValueError) as exc:
            raise IndexFileError(f"{name}: cannot read index ({exc})") from exc
        if header.get("prints") != P.PRINTS_VERSION:
            raise IndexFileError(f"{name}: index of engine version {header.get('prints')}")
        base = -(-(len(_MAGIC) + 8 + size) // _ALIGN) * _ALIGN
        arrays: dict[str, npt.NDArray[np.generic]] = {}
        for key, (dtype, shape, off) in header["arrays"].items():
            n = int(np.prod(shape))
            if n == 0:
                arrays[key] = np.zeros(shape, dtype)
            elif mmap:
                arrays[key] = np.memmap(name, dtype, "r", base + off, tuple(shape))
            else:
                arrays[key] = np.fromfile(name, dtype, n, offset=base + off).reshape(shape)
        index = cls(
            arrays["starts"],  # type: ignore[arg-type]
            arrays["keys"],  # type: ignore[arg-type]
            arrays["times"],  # type: ignore[arg-type]
            arrays["track_ids"],  # type: ignore[arg-type]
            arrays["durations"],  # type: ignore[arg-type]
            version=str(header["version"]),
            has_fines=bool(header.get("fines", False)),
        )
        if all(k in arrays for k in _DENSITY):
            offsets, hist = (np.asarray(arrays[k]) for k in _DENSITY)
            index._density = (offsets, hist)
            index._density_saved = True
        if all(k in arrays for k in _TEMPLATE):
            index.set_templates(tuple(arrays[k] for k in _TEMPLATE))  # type: ignore[arg-type]
        if all(k in arrays for k in _FENCES):
            steps = header.get("fence_steps", FENCE_STEPS)
            index.set_fences(
                tuple(arrays[k] for k in _FENCES),  # type: ignore[arg-type]
                (int(steps[0]), int(steps[1])),
            )
        return index
