"""A track's spectral peaks (its constellation), stored so prints outlive engine changes.

The catalog keeps each track's peaks beside its prints: a new hash layout or pairing rule
(``PRINTS_VERSION``) re-derives every track's prints from the database alone
(``airtrack catalog reindex``), without the audio files.  Only a change of the peak picker
itself (``PEAKS_VERSION``) needs the audio again.

Peaks are stored exactly (frame index + float32 ln Hz of the interpolated peak), not
quantised: prints derived from stored peaks are then bit-identical to prints made from the
audio, so a reindex cannot move a single play.  Frames are delta-coded (uint16, or uint32
when a gap of more than 65535 frames occurs) and the whole body is zlib'd: ~4 B per peak,
about a sixth of the prints they make.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from airtrack.errors import AudioError
from airtrack.fingerprint import params as P
from airtrack.fingerprint.decode import decode
from airtrack.fingerprint.landmarks import (
    LandmarkExtractor,
    Prints,
    _concat,
    pair_peaks,
    prints_from_pairs,
)

__all__ = [
    "Peaks",
    "fingerprint_file_with_peaks",
    "fingerprint_samples_with_peaks",
    "pack_peaks",
    "prints_from_peaks",
    "unpack_peaks",
]

_MAGIC = b"ATPK"
_HEADER = struct.Struct("<4sHBIf")  # magic, PEAKS_VERSION, frame delta width, count, seconds


@dataclass(frozen=True, slots=True)
class Peaks:
    """Peak frames ``t`` (non-decreasing) and ``lnf`` = ln(peak Hz), of ``duration_s`` audio."""

    t: npt.NDArray[np.int64]
    lnf: npt.NDArray[np.float32]
    duration_s: float

    def __len__(self) -> int:
        return int(self.t.shape[0])


def _peaks_of(extractor: LandmarkExtractor) -> Peaks:
    parts = extractor.peaks or []
    t = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    f = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.float32)
    return Peaks(t, f, extractor.samples_seen / P.SAMPLE_RATE)


def prints_from_peaks(peaks: Peaks) -> Prints:
    """The prints the current engine makes of these peaks (same as from the audio)."""
    return prints_from_pairs(pair_peaks(peaks.t, peaks.lnf, len(peaks)), peaks.duration_s)


def fingerprint_samples_with_peaks(samples: npt.NDArray[np.floating]) -> tuple[Prints, Peaks]:
    extractor = LandmarkExtractor(keep_peaks=True)
    pairs = _concat([extractor.feed(samples), extractor.flush()])
    return prints_from_pairs(pairs, extractor.samples_seen / P.SAMPLE_RATE), _peaks_of(extractor)


def fingerprint_file_with_peaks(path: str | os.PathLike[str]) -> tuple[Prints, Peaks]:
    """Prints and peaks of an audio file (``AudioError`` on bad input)."""
    extractor = LandmarkExtractor(keep_peaks=True)
    parts = [extractor.feed(block) for block in decode(path)]
    parts.append(extractor.flush())
    prints = prints_from_pairs(_concat(parts), extractor.samples_seen / P.SAMPLE_RATE)
    return prints, _peaks_of(extractor)


def pack_peaks(peaks: Peaks) -> bytes:
    deltas = np.diff(peaks.t, prepend=0)
    if deltas.size and (deltas.min() < 0):
        raise AudioError("peaks are not in frame order")
    width = 2 if not deltas.size or deltas.max() <= 0xFFFF else 4
    body = deltas.astype(f"<u{width}").tobytes() + peaks.lnf.astype("<f4").tobytes()
    header = _HEADER.pack(_MAGIC, P.PEAKS_VERSION, width, len(peaks), peaks.duration_s)
    return header + zlib.compress(body, 6)


def unpack_peaks(data: bytes) -> Peaks:
    """Inverse of ``pack_peaks``; refuses other formats or peak-picker versions."""
    if len(data) < _HEADER.size:
        raise AudioError("peaks blob too short")
    magic, version, width, count, duration = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise AudioError("not an airtrack peaks blob")
    if version != P.PEAKS_VERSION:
        raise AudioError(f"peaks version {version}, engine needs {P.PEAKS_VERSION}")
    if width not in (2, 4):
        raise AudioError("corrupt peaks blob (bad frame width)")
    try:
        body = zlib.decompress(data[_HEADER.size :])
    except zlib.error as exc:
        raise AudioError(f"corrupt peaks blob ({exc})") from exc
    if len(body) != (width + 4) * count:
        raise AudioError("corrupt peaks blob (length mismatch)")
    t = np.cumsum(np.frombuffer(body, f"<u{width}", count), dtype=np.int64)
    lnf = np.frombuffer(body, "<f4", count, width * count).astype(np.float32)
    return Peaks(t, lnf, float(duration))
