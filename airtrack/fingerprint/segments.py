"""A catalog served as segments: one base ``Index`` + delta segments + removed track ids.

``SegmentedIndex`` answers the matcher exactly as one ``Index`` built from the live tracks
would (same postings per query hash, same posting cap, same per-track densities); only the
dense track numbers differ (base tracks first, then each delta's).  A track is *dead* in a
segment when it was removed from the catalog or when a later segment carries it again (its
prints were replaced): its postings are dropped from every lookup, and the posting cap
counts live postings only, so a removed track cannot push a hash over the cap.

Delta segments travel as *prints packs* (``write_pack``/``read_pack``): the added tracks'
packed prints (~3 B per print) and nothing else, so a delta costs about its tracks' prints
on the wire; the worker builds the delta's ``Index`` itself (``Index.build``), which for a
few hundred tracks is far cheaper than the dense 4 MB ``starts`` table a saved index has.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from airtrack.errors import IndexFileError
from airtrack.fingerprint import params as P
from airtrack.fingerprint.index import FineProbes, Index

__all__ = ["SegmentedIndex", "read_pack", "write_pack"]

_PACK_MAGIC = b"ATPK\x01\n"
_SCAN = 1 << 24  # postings scanned at a time when finding dead postings (64 MB of uint32)

_FINE_MASK = (1 << P.FINE_BITS) - 1


def write_pack(items: Iterable[tuple[int, bytes]], path: str | os.PathLike[str]) -> None:
    """Write ``(track_id, packed prints)`` pairs as one file (temp name, then renamed)."""
    pairs = [(int(t), bytes(b)) for t, b in items]
    head = json.dumps(
        {"prints": P.PRINTS_VERSION, "tracks": [[t, len(b)] for t, b in pairs]}
    ).encode()
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(_PACK_MAGIC + len(head).to_bytes(8, "little") + head)
            for _, blob in pairs:
                fh.write(blob)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_pack(data: bytes) -> list[tuple[int, bytes]]:
    """The ``(track_id, packed prints)`` pairs of a prints pack (``IndexFileError`` if bad)."""
    try:
        if not data.startswith(_PACK_MAGIC):
            raise ValueError("not a prints pack")
        size = int.from_bytes(data[len(_PACK_MAGIC) : len(_PACK_MAGIC) + 8], "little")
        at = len(_PACK_MAGIC) + 8
        header = json.loads(data[at : at + size])
        if header.get("prints") != P.PRINTS_VERSION:
            raise ValueError(f"prints of engine version {header.get('prints')}")
        at += size
        out: list[tuple[int, bytes]] = []
        for track_id, length in header["tracks"]:
            blob = data[at : at + int(length)]
            if len(blob) != int(length):
                raise ValueError("truncated")
            out.append((int(track_id), blob))
            at += int(length)
        if at != len(data):
            raise ValueError("trailing bytes")
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexFileError(f"bad prints pack ({exc})") from exc
    return out


def _dead_counts(seg: Index, dead: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint32]:
    """The hash of every posting of a dead track of ``seg`` (one entry per posting)."""
    found: list[npt.NDArray[np.uint32]] = []
    for lo in range(0, seg.n_hashes, _SCAN):
        rows = np.flatnonzero(dead[seg.keys[lo : lo + _SCAN] >> np.uint32(P.FINE_BITS)]) + lo
        if rows.size:
            # row r belongs to hash h where starts[h] <= r < starts[h + 1]
            h = np.searchsorted(seg.starts, rows, side="right") - 1
            found.append(h.astype(np.uint32))
    return np.concatenate(found) if found else np.zeros(0, np.uint32)


def _probes_of_rows(
    wide: npt.NDArray[np.int64], probes: npt.NDArray[np.uint16], rows: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint16]:
    """The probes of ``rows`` (a subset of the ascending ``wide``, whose probes these are)."""
    return probes[np.searchsorted(wide, rows)]


class SegmentedIndex(Index):
    """Several ``Index`` segments and removed track ids, seen by the matcher as one index.

    A subclass so that the matcher, the evidence and the airing code take it unchanged; the
    posting arrays of ``Index`` are empty here (``lookup`` and ``prints_between`` are the
    segments'), and it cannot be saved (the segments are the files).
    """

    def __init__(
        self, segments: Sequence[Index], removed: Iterable[int] = (), version: str | None = None
    ) -> None:
        self.segments = list(segments)
        removed_ids = np.fromiter((int(r) for r in removed), np.int64)
        self._offsets = np.cumsum([0] + [s.n_tracks for s in self.segments]).astype(np.int64)
        self._dead: list[npt.NDArray[np.bool_] | None] = []
        dead_hashes: list[npt.NDArray[np.uint32]] = []
        later = np.zeros(0, np.int64)
        for seg in reversed(self.segments):
            mask = np.isin(seg.track_ids, removed_ids) | np.isin(seg.track_ids, later)
            later = np.concatenate((later, seg.track_ids.astype(np.int64)))
            if mask.any():
                self._dead.append(mask)
                dead_hashes.append(_dead_counts(seg, mask))
            else:
                self._dead.append(None)
        self._dead.reverse()
        # dead postings per hash (4 MB, only while some track is dead): the cap counts live
        # postings, and one gather per query hash is all a lookup pays for it
        self._dead_n: npt.NDArray[np.int64] | None = None
        if dead_hashes:
            hashes_dead = np.concatenate(dead_hashes)
            self._dead_n = np.bincount(hashes_dead, minlength=1 << P.HASH_BITS).astype(np.int64)
        empty32 = np.zeros(0, np.uint32)
        ids = [s.track_ids.astype(np.int64) for s in self.segments]
        durs = [s.durations.astype(np.float32) for s in self.segments]
        super().__init__(
            np.zeros(1, np.uint32),
            empty32,
            empty32,
            np.concatenate(ids) if ids else np.zeros(0, np.int64),
            np.concatenate(durs) if durs else np.zeros(0, np.float32),
            version=version or "+".join(s.version for s in self.segments) or "empty",
        )

    @property
    def n_hashes(self) -> int:
        return sum(s.n_hashes for s in self.segments)

    @property
    def live_track_ids(self) -> npt.NDArray[np.int64]:
        """The catalog ids a lookup can return (dead ones left out)."""
        parts = [
            s.track_ids if d is None else s.track_ids[~d]
            for s, d in zip(self.segments, self._dead, strict=True)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def lookup(
        self,
        hashes: npt.NDArray[np.uint32],
        max_postings: int | None = None,
        fines: FineProbes | None = None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
        """As ``Index.lookup`` over the live tracks of every segment, in query-row order:
        a bucket is narrowed to the query's fine keys when its *live* postings over every
        segment pass the cap, and the cap then counts a fine key's live postings."""
        if len(self.segments) == 1 and self._dead[0] is None:  # the compacted common case
            return self.segments[0].lookup(hashes, max_postings, fines)
        hashes = np.asarray(hashes, np.uint32)
        live = np.zeros(hashes.shape[0], np.int64)
        for seg in self.segments:
            live += seg.starts[hashes + np.uint32(1)].astype(np.int64) - seg.starts[hashes]
        if self._dead_n is not None:
            live -= self._dead_n[hashes]
        narrow = live > (max_postings or 0)
        seg_fines = fines
        if callable(fines):
            # asked once, for every narrowed row: each segment narrows a subset of them
            wide = np.flatnonzero(narrow)
            probes = fines(wide) if wide.size else np.zeros((0, 1), np.uint16)
            seg_fines = functools.partial(_probes_of_rows, wide, probes)

        rows, keys, times = [], [], []
        for seg, dead, off in zip(self.segments, self._dead, self._offsets, strict=False):
            qr, key, tm = seg.gather(*seg.ranges(hashes, narrow, seg_fines))
            tr = key >> np.uint32(P.FINE_BITS)
            if dead is not None:
                ok = ~dead[tr]
                qr, key, tm = qr[ok], key[ok], tm[ok]
            rows.append(qr)
            # the global dense track, its fine key kept below it for the cap's groups
            keys.append(key + (np.uint32(off) << np.uint32(P.FINE_BITS)))
            times.append(tm)
        qrow = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        key = np.concatenate(keys) if keys else np.zeros(0, np.uint32)
        tref = np.concatenate(times) if times else np.zeros(0, np.uint32)
        if max_postings is not None and qrow.size:
            # one group per whole bucket, or per (bucket, fine key) where it was narrowed
            fine = (key & np.uint32(_FINE_MASK)).astype(np.int64)
            by_fine = narrow[qrow] if fines is not None else np.zeros(qrow.shape[0], np.bool_)
            group = (qrow << 17) | np.where(by_fine, fine, 1 << 16)
            _, inv, count = np.unique(group, return_inverse=True, return_counts=True)
            ok = count[inv] <= max_postings
            qrow, key, tref = qrow[ok], key[ok], tref[ok]
        order = np.argsort(qrow, kind="stable")  # segment order within a row: dense order
        return qrow[order], key[order] >> np.uint32(P.FINE_BITS), tref[order]

    def prints_between(self, track: int, t0: float, t1: float) -> int:
        seg = int(np.searchsorted(self._offsets, track, side="right")) - 1
        return self.segments[seg].prints_between(track - int(self._offsets[seg]), t0, t1)

    def save(self, path: str | os.PathLike[str]) -> None:
        raise IndexFileError("a segmented index is saved as its segments, not as one file")
