"""A synthetic fingerprint archive written straight into PostgreSQL (discovery, back-fill).

The segments are what a worker would archive: the pairs of the real extractor over
synthetic audio, cut into segments and encoded by the archive's own codec.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import psycopg

from airtrack.fingerprint import params as P
from airtrack.fingerprint.archive import concat_pairs, encode_segment, select_pairs
from airtrack.fingerprint.landmarks import LandmarkExtractor, Pairs

FPS = P.FRAMES_PER_S


def pairs_of(audio: np.ndarray) -> Pairs:
    """Every pair the extractor finds in ``audio`` (mono, the engine's rate)."""
    ex = LandmarkExtractor()
    return concat_pairs([ex.feed(audio), ex.flush()])


@dataclass(frozen=True)
class Segment:
    stream_id: int
    started_at: datetime
    duration_s: float
    key: str
    pairs: int
    data: bytes


def segments(
    stream_id: int, origin: datetime, audio: np.ndarray, segment_s: float = 30.0
) -> list[Segment]:
    """``audio`` heard on ``stream_id`` from ``origin``, as archive segments."""
    pairs = pairs_of(audio)
    frames = int(len(audio) / P.SAMPLE_RATE * FPS)
    step = int(segment_s * FPS)
    out: list[Segment] = []
    for lo in range(0, frames, step):
        hi = min(frames, lo + step)
        part = select_pairs(pairs, (pairs.t >= lo) & (pairs.t < hi))
        part = Pairs(part.t - lo, part.lnf1, part.df, part.dt, part.fdf, part.fdt)
        start = origin + timedelta(seconds=lo / FPS)
        out.append(
            Segment(stream_id, start, (hi - lo) / FPS, f"s{stream_id}-{start.timestamp():.3f}",
                    len(part), encode_segment(hi - lo, part))
        )  # fmt: skip
    return out


def write(conn: psycopg.Connection, segs: list[Segment]) -> None:
    """Store segments as the fenced write would (partitions made as needed)."""
    for day in sorted({s.started_at.date() for s in segs}):
        conn.execute("SELECT airtrack_archive_partition(%s)", (day,))
    for s in segs:
        conn.execute(
            "INSERT INTO fingerprint_archive (stream_id, started_at, duration_s, idempotency_key,"
            " epoch, worker_id, pairs, data) VALUES (%s, %s, %s, %s, 1, 'w', %s, %s)",
            (s.stream_id, s.started_at, s.duration_s, s.key, s.pairs, s.data),
        )
