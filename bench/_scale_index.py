"""Out-of-core writer of the engine's index file, for catalogs too big for ``Index.build``.

``Index.from_arrays`` holds ~32 B per posting at once (all hashes, times, track numbers, an
int64 sort order and the outputs): 45 GB at 100,000 tracks.  This writer keeps the postings
in flat raw files on disk (14 B each: hash, time, track, fine key) and writes the very
same file ``Index.save`` would (same header, same 64-byte aligned arrays) one hash range at
a time, so memory is one range's postings.  Like ``Index.from_arrays`` it sorts a
bucket's postings by fine key and stores times as uint16 when every track fits, and stores
every track's template (``airtrack.fingerprint.template``) and the fine-key fences
(``airtrack.fingerprint.fences``, taken from each hash range's keys as it is written) as
``Index.build`` does.
``Index.load`` reads the result.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.fences import FENCE_STEPS, FINE_MASK
from airtrack.fingerprint.index import _ALIGN, _MAGIC
from airtrack.fingerprint.landmarks import Prints
from airtrack.fingerprint.template import smallest, templates_of

_CHUNK = 1 << 25  # postings read per pass step
#: postings of a group of tracks whose templates are made at once (~100 B each meanwhile)
GROUP = 1 << 25
Templates = tuple[
    npt.NDArray[np.int64], npt.NDArray[np.unsignedinteger], npt.NDArray[np.unsignedinteger]
]


def track_groups(counts: npt.NDArray[np.int64], size: int = GROUP) -> list[tuple[int, int]]:
    """Ranges ``[a, b)`` of tracks holding at most ``size`` postings (or one track)."""
    cum = np.concatenate(([0], np.cumsum(counts)))
    out, a = [], 0
    while a < counts.shape[0]:
        b = int(np.searchsorted(cum, cum[a] + size, "right")) - 1
        b = min(counts.shape[0], max(b, a + 1))
        out.append((a, b))
        a = b
    return out


def join_templates(parts: list[Templates], n_tracks: int) -> Templates:
    """One index's templates from those of consecutive groups of its tracks."""
    offsets, base = [np.zeros(1, np.int64)], 0
    for o, _, _ in parts:
        offsets.append(o[1:] + base)
        base += int(o[-1])
    t = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    q = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
    offs = np.concatenate(offsets)
    assert offs.shape[0] == n_tracks + 1
    return (offs, smallest(t, (np.uint16, np.uint32)), smallest(q, (np.uint8, np.uint16)))  # type: ignore[arg-type]


def group_template(
    first: int, n: int, tracks: npt.NDArray[np.integer], hashes: npt.NDArray[np.integer],
    times: npt.NDArray[np.integer],
) -> Templates:  # fmt: skip
    """The templates of tracks ``first .. first + n`` from their postings, kept small."""
    o, t, q = templates_of(tracks.astype(np.int64) - first, hashes, times, n)
    return o, smallest(t, (np.uint16, np.uint32)), smallest(q, (np.uint8, np.uint16))


class RawPostings:
    """Append-only postings (hash, time, dense track, fine key) in flat files under ``folder``."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._files = {k: (folder / f"{k}.u32").open("wb") for k in ("h", "t", "k", "f")}
        self.ids: list[int] = []
        self.durations: list[float] = []
        self.total = 0
        self.max_time = 0

    def add(self, track_id: int, prints: Prints) -> None:
        dense = len(self.ids)
        self.ids.append(track_id)
        self.durations.append(prints.duration_s)
        self._files["h"].write(prints.hashes.astype("<u4").tobytes())
        self._files["t"].write(prints.times.astype("<u4").tobytes())
        self._files["k"].write(np.full(len(prints), dense, "<u4").tobytes())
        self._files["f"].write(prints.fines.astype("<u2").tobytes())
        self.total += len(prints)
        if len(prints):
            self.max_time = max(self.max_time, int(prints.times.max()))

    def flush(self) -> None:
        for fh in self._files.values():
            fh.flush()

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()

    def array(self, key: str, n: int) -> npt.NDArray[np.uint32]:
        dtype = np.uint16 if key == "f" else np.uint32
        if n == 0:  # a zero-length file cannot be mapped
            return np.zeros(0, dtype)  # type: ignore[return-value]
        return np.memmap(self.folder / f"{key}.u32", dtype, "r", 0, (n,))  # type: ignore[return-value]


def write_index(raw: RawPostings, n_tracks: int, path: Path, max_bucket: int = 150_000_000) -> int:
    """Write the index of the first ``n_tracks`` tracks of ``raw``; returns its postings."""
    raw.flush()
    counts_k = np.bincount(raw.array("k", raw.total), minlength=len(raw.ids))  # one pass
    n = int(counts_k[:n_tracks].sum())
    h_all = raw.array("h", n)
    counts = np.zeros(1 << P.HASH_BITS, np.int64)
    for i in range(0, n, _CHUNK):
        counts += np.bincount(h_all[i : i + _CHUNK], minlength=1 << P.HASH_BITS)
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.uint32)
    ids = np.asarray(raw.ids[:n_tracks], np.int64)
    durations = np.asarray(raw.durations[:n_tracks], np.float32)
    t_dtype = "<u2" if raw.max_time < 1 << 16 else "<u4"  # as Index.from_arrays
    d_offsets, d_hist = _density(raw, n, durations)
    tpl_offsets, tpl_t, tpl_q = _templates(raw, counts_k[:n_tracks])
    shapes = {"starts": (starts.shape[0], "<u4"), "keys": (n, "<u4"), "times": (n, t_dtype),
              "track_ids": (n_tracks, "<i8"), "durations": (n_tracks, "<f4"),
              "density_offsets": (d_offsets.shape[0], "<i8"),
              "density_hist": (d_hist.shape[0], d_hist.dtype.str),
              "template_offsets": (tpl_offsets.shape[0], "<i8"),
              "template_t": (tpl_t.shape[0], tpl_t.dtype.str),
              "template_q": (tpl_q.shape[0], tpl_q.dtype.str),
              "fence_coarse": (-(-n // FENCE_STEPS[0]), "<u2"),
              "fence_fine": (-(-n // FENCE_STEPS[1]), "<u2")}  # fmt: skip
    layout: dict[str, list[object]] = {}
    offset = 0
    for name, (size, dtype) in shapes.items():
        layout[name] = [dtype, [size], offset]
        offset += -(-size * np.dtype(dtype).itemsize // _ALIGN) * _ALIGN
    # the version names the content; hashing 10 GB of arrays would only slow the bench down
    header = {"version": f"scale-{n_tracks}-{n}", "prints": P.PRINTS_VERSION, "fines": True,
              "arrays": layout, "fence_steps": list(FENCE_STEPS)}  # fmt: skip
    head = json.dumps(header).encode()
    base = -(-(len(_MAGIC) + 8 + len(head)) // _ALIGN) * _ALIGN
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(_MAGIC + len(head).to_bytes(8, "little") + head)
        fh.truncate(base + offset)
        small = (("starts", starts), ("track_ids", ids), ("durations", durations),
                 ("density_offsets", d_offsets), ("density_hist", d_hist),
                 ("template_offsets", tpl_offsets), ("template_t", tpl_t),
                 ("template_q", tpl_q))  # fmt: skip
        for name, arr in small:
            fh.seek(base + int(layout[name][2]))  # type: ignore[call-overload]
            fh.write(arr.tobytes())
    if n == 0:
        os.replace(tmp, path)
        return 0
    out_k = np.memmap(tmp, np.uint32, "r+", base + int(layout["keys"][2]), (n,))  # type: ignore[call-overload]
    out_t = np.memmap(tmp, np.dtype(t_dtype), "r+", base + int(layout["times"][2]), (n,))  # type: ignore[call-overload]
    fences = [
        np.memmap(tmp, np.uint16, "r+", base + int(layout[name][2]), (-(-n // step),))  # type: ignore[call-overload]
        for name, step in zip(("fence_coarse", "fence_fine"), FENCE_STEPS, strict=True)
    ]
    t_all, k_all, f_all = raw.array("t", n), raw.array("k", n), raw.array("f", n)
    # hash ranges of at most ``max_bucket`` postings, written in hash order
    edges = [0]
    while edges[-1] < 1 << P.HASH_BITS:
        lo = edges[-1]
        hi = int(np.searchsorted(starts, int(starts[lo]) + max_bucket, "right")) - 1
        edges.append(min(1 << P.HASH_BITS, max(hi, lo + 1)))
    for lo, hi in itertools.pairwise(edges):
        hs, ts, ks, fs = [], [], [], []
        for i in range(0, n, _CHUNK):
            h = h_all[i : i + _CHUNK]
            sel = np.flatnonzero((h >= lo) & (h < hi))
            hs.append(h[sel])
            ts.append(t_all[i : i + _CHUNK][sel])
            ks.append(k_all[i : i + _CHUNK][sel])
            fs.append(f_all[i : i + _CHUNK][sel])
        fb = np.concatenate(fs)
        hb = (np.concatenate(hs).astype(np.uint64) << np.uint64(16)) | fb.astype(np.uint64)
        order = np.argsort(hb, kind="stable")  # stable: a (hash, fine)'s postings in track order
        a, b = int(starts[lo]), int(starts[hi])
        # keys as Index.from_arrays packs them: dense track << FINE_BITS | fine key
        out_k[a:b] = (np.concatenate(ks)[order] << np.uint32(P.FINE_BITS)) | fb[order]
        out_t[a:b] = np.concatenate(ts)[order]
        for fence, step in zip(fences, FENCE_STEPS, strict=True):  # the samples in [a, b)
            first = -(-a // step)
            fence[first : -(-b // step)] = out_k[first * step : b : step] & np.uint32(FINE_MASK)
        del hs, ts, ks, fs, fb, hb, order
    for arr in (out_k, out_t, *fences):
        arr.flush()
    del out_k, out_t, fences
    os.replace(tmp, path)
    return n


def _templates(raw: RawPostings, counts: npt.NDArray[np.int64]) -> Templates:
    """Every track's template from the raw postings (in track order), a group at a time."""
    cum = np.concatenate(([0], np.cumsum(counts)))
    n = int(cum[-1])
    h_all, t_all, k_all = raw.array("h", n), raw.array("t", n), raw.array("k", n)
    parts = []
    for a, b in track_groups(counts):
        r0, r1 = int(cum[a]), int(cum[b])
        parts.append(group_template(a, b - a, k_all[r0:r1], h_all[r0:r1], t_all[r0:r1]))
    return join_templates(parts, counts.shape[0])


def _density(
    raw: RawPostings, n: int, durations: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.unsignedinteger]]:
    """The per-second print histogram ``Index.build_density`` makes (and ``Index.save``
    stores), from the raw postings in one pass: every loader is spared building it."""
    secs = np.ceil(durations.astype(np.float64)).astype(np.int64) + 2
    offsets = np.concatenate(([0], np.cumsum(secs))).astype(np.int64)
    hist = np.zeros(int(offsets[-1]), np.uint32)
    t_all, k_all = raw.array("t", n), raw.array("k", n)
    for i in range(0, n, _CHUNK):
        sec = (t_all[i : i + _CHUNK].astype(np.int64) * P.HOP) // P.SAMPLE_RATE
        tr = k_all[i : i + _CHUNK].astype(np.int64)
        sec = np.minimum(sec, secs[tr] - 1)
        hist += np.bincount(offsets[tr] + sec, minlength=hist.shape[0]).astype(np.uint32)
    small = hist.size == 0 or int(hist.max()) <= np.iinfo(np.uint16).max
    return offsets, hist.astype(np.uint16) if small else hist
