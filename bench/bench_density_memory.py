"""Private memory the matcher's density histogram leaves in a worker process.

The arrays the scale bench built before (16 M-posting passes into an int64 histogram, then
an int64 cumulative array) against ``Index.build_density`` (uint16 counts), each in a fresh
process on one saved synthetic index (uniform hashes, ~220-s tracks, 16,400 prints each).
Run: ``python bench/bench_density_memory.py 10000`` (tracks).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from airtrack.fingerprint import Index
from airtrack.fingerprint import params as P

PRINTS_PER_TRACK = 16400


def _status(path: str, key: str) -> int:
    with open(path) as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key))


def _old_density(idx: Index) -> None:
    secs = np.ceil(idx.durations.astype(np.float64)).astype(np.int64) + 2
    offsets = np.concatenate(([0], np.cumsum(secs)))
    hist = np.zeros(int(offsets[-1]), np.int64)
    step = 1 << 24
    for i in range(0, idx.n_hashes, step):
        sec = (idx.times[i : i + step].astype(np.int64) * P.HOP) // P.SAMPLE_RATE
        tr = (idx.keys[i : i + step] >> np.uint32(P.FINE_BITS)).astype(np.int64)
        sec = np.minimum(sec, secs[tr] - 1)
        hist += np.bincount(offsets[tr] + sec, minlength=hist.shape[0])
    idx._density = (offsets, np.concatenate(([0], np.cumsum(hist))))  # type: ignore[assignment]


def child(path: str, how: str) -> None:
    idx = Index.load(path)
    before = _status("/proc/self/smaps_rollup", "Anonymous:")
    t0 = time.perf_counter()
    if how == "old":
        _old_density(idx)
    else:
        idx.build_density()
    took = time.perf_counter() - t0
    kept = (_status("/proc/self/smaps_rollup", "Anonymous:") - before) / 1024
    print(f"| {how} | {idx.n_tracks:,} | {idx.n_hashes:,} | {kept:.1f} | {took:.1f} |", flush=True)


def main() -> None:
    if len(sys.argv) == 3:
        child(sys.argv[1], sys.argv[2])
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rng = np.random.default_rng(3)
    dur = rng.uniform(150, 290, n)
    hashes = [
        rng.integers(0, 1 << P.HASH_BITS, PRINTS_PER_TRACK).astype(np.uint32) for _ in range(n)
    ]
    times = [
        np.sort(rng.integers(0, int(d * P.FRAMES_PER_S), PRINTS_PER_TRACK)).astype(np.uint32)
        for d in dur
    ]
    fines = [
        rng.integers(0, 1 << P.FINE_BITS, PRINTS_PER_TRACK).astype(np.uint16) for _ in range(n)
    ]
    idx = Index.from_arrays(
        list(range(1, n + 1)), dur.tolist(), hashes, times, [PRINTS_PER_TRACK] * n, fines
    )
    out = Path(tempfile.mkdtemp(prefix="density-bench-")) / "index.idx"
    idx.save(out)
    del idx, hashes, times, fines
    print("| density arrays | tracks | postings | private MB kept after the build | build (s) |")
    print("|---|---|---|---|---|")
    try:
        for how in ("old", "new", "old", "new"):
            subprocess.run([sys.executable, __file__, str(out), how], check=True)
    finally:
        out.unlink()


if __name__ == "__main__":
    main()
