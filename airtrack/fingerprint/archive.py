"""The fingerprint archive's segment codec: a stretch of a stream's query prints, no audio.

A segment holds the peak pairs (:class:`~airtrack.fingerprint.landmarks.Pairs`) the
matcher saw in one stretch of a stream, anchor frames relative to the segment's first
frame, so that the archive can be replayed later through the very same
:class:`~airtrack.fingerprint.matcher.StreamingMatcher` (back-fill of a song registered
late, discovery of recurring unknowns). The features are kept exactly (float32): a
rounded feature could fall into another hash bin at some speed and the replay would not
match what the live matcher would have.

Layout: ``b"ATA1"``, ``<I frames> <I n>``, then zlib of the arrays ``t`` (uint16),
``dt`` (uint8), ``fdt`` (int8), ``lnf1``, ``df``, ``fdf`` (float32), n each: 16 B a
pair before compression.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from airtrack.errors import ArchiveSegmentError
from airtrack.fingerprint.landmarks import Pairs

__all__ = [
    "ArchiveSegment",
    "concat_pairs",
    "decode_segment",
    "encode_segment",
    "select_pairs",
    "shift_pairs",
    "thin_pairs",
]

_MAGIC = b"ATA1"
_HEAD = struct.Struct("<4sII")
#: Longest segment in frames (the relative anchor frame is stored as uint16).
MAX_FRAMES = 65535


@dataclass(frozen=True)
class ArchiveSegment:
    """``frames`` of a stream (the span the segment covers) and the pairs anchored in it."""

    frames: int
    pairs: Pairs


def encode_segment(frames: int, pairs: Pairs) -> bytes:
    """The compact bytes of a segment; ``pairs.t`` must lie in ``[0, frames)``."""
    if not 0 <= frames <= MAX_FRAMES:
        raise ValueError(f"a segment spans at most {MAX_FRAMES} frames, not {frames}")
    n = len(pairs)
    if n and (int(pairs.t.min()) < 0 or int(pairs.t.max()) >= max(frames, 1)):
        raise ValueError("pair anchors outside the segment")
    body = b"".join(
        (
            pairs.t.astype("<u2").tobytes(),
            np.clip(pairs.dt, 0, 255).astype("<u1").tobytes(),
            np.clip(pairs.fdt, -128, 127).astype("<i1").tobytes(),
            pairs.lnf1.astype("<f4").tobytes(),
            pairs.df.astype("<f4").tobytes(),
            pairs.fdf.astype("<f4").tobytes(),
        )
    )
    return _HEAD.pack(_MAGIC, frames, n) + zlib.compress(body, 6)


def decode_segment(data: bytes, *, max_pairs: int = 10_000_000) -> ArchiveSegment:
    """Back from :func:`encode_segment`; damaged or foreign bytes raise ArchiveSegmentError."""
    if len(data) < _HEAD.size:
        raise ArchiveSegmentError("archive segment too short")
    magic, frames, n = _HEAD.unpack_from(data)
    if magic != _MAGIC or n > max_pairs:
        raise ArchiveSegmentError("not an archive segment")
    try:
        body = zlib.decompress(data[_HEAD.size :])
    except zlib.error as exc:
        raise ArchiveSegmentError(f"damaged archive segment: {exc}") from None
    if len(body) != 16 * n:
        raise ArchiveSegmentError("archive segment length does not match its count")
    o = 0

    def take(dtype: str, size: int) -> np.ndarray:
        nonlocal o
        arr = np.frombuffer(body, dtype=dtype, count=n, offset=o)
        o += size * n
        return arr

    t = take("<u2", 2).astype(np.int64)
    dt = take("<u1", 1).astype(np.int64)
    fdt = take("<i1", 1).astype(np.int64)
    lnf1 = take("<f4", 4).astype(np.float32)
    df = take("<f4", 4).astype(np.float32)
    fdf = take("<f4", 4).astype(np.float32)
    return ArchiveSegment(int(frames), Pairs(t, lnf1, df, dt, fdf, fdt))


def select_pairs(pairs: Pairs, mask: np.ndarray) -> Pairs:
    """The pairs where ``mask`` holds (or at the indices it lists)."""
    return Pairs(
        pairs.t[mask], pairs.lnf1[mask], pairs.df[mask],
        pairs.dt[mask], pairs.fdf[mask], pairs.fdt[mask],
    )  # fmt: skip


def shift_pairs(pairs: Pairs, frames: int) -> Pairs:
    """The same pairs with anchors moved by ``frames``."""
    return Pairs(pairs.t + frames, pairs.lnf1, pairs.df, pairs.dt, pairs.fdf, pairs.fdt)


def concat_pairs(parts: list[Pairs]) -> Pairs:
    if not parts:
        return Pairs.empty()
    return Pairs(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("t", "lnf1", "df", "dt", "fdf", "fdt")
        )
    )


def thin_pairs(pairs: Pairs, keep: int) -> Pairs:
    """At most ``keep`` of the pairs, spread evenly over the segment (a bytes cap)."""
    n = len(pairs)
    if n <= keep:
        return pairs
    idx = np.unique(np.linspace(0, n - 1, max(0, keep)).astype(np.int64))
    return select_pairs(pairs, idx if keep else np.zeros(0, np.int64))
