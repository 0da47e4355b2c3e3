"""Incremental catalog snapshots: what a delta of +100 tracks costs a worker.

    .venv/bin/python bench/bench_catalog_delta.py [--base 10000] [--added 100]

Synthetic catalog: every track gets 16,400 prints (the measured mean of the 10k catalog in
bench/RESULTS-catalog-scale.md) with uniform random hashes, built straight from arrays (no
audio: the distractor machinery needs the real songs and takes minutes per 1,000 tracks).
Measures the delta on the wire against the added tracks' packed prints and against a full
snapshot, the worker's apply time (prints pack → ``Index.build`` → ``SegmentedIndex``, with
and without a tombstone in the base), and lookup cost through the segments vs one index.
Prints a Markdown table to paste into bench/RESULTS-catalog-scale.md.  Not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airtrack.fingerprint import Index, pack_prints
from airtrack.fingerprint import params as P
from airtrack.fingerprint.landmarks import Prints
from airtrack.fingerprint.segments import SegmentedIndex, read_pack, write_pack

PRINTS_PER_TRACK = 16_400


def _arrays(
    rng: np.random.Generator, n: int
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    hashes = [
        rng.integers(0, 1 << P.HASH_BITS, PRINTS_PER_TRACK).astype(np.uint32) for _ in range(n)
    ]
    times = [np.sort(rng.integers(0, 5600, PRINTS_PER_TRACK)).astype(np.uint32) for _ in range(n)]
    fines = [
        rng.integers(0, 1 << P.FINE_BITS, PRINTS_PER_TRACK).astype(np.uint16) for _ in range(n)
    ]
    return hashes, times, fines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=int, default=10_000)
    ap.add_argument("--added", type=int, default=100)
    args = ap.parse_args()
    rng = np.random.default_rng(12)
    out = Path(tempfile.mkdtemp(prefix="delta-bench-"))

    t0 = time.perf_counter()
    h, t, f = _arrays(rng, args.base)
    base = Index.from_arrays(
        list(range(1, args.base + 1)),
        [180.0] * args.base,
        h,
        t,
        [PRINTS_PER_TRACK] * args.base,
        f,
    )
    base.save(out / "base.idx")
    del base
    base = Index.load(out / "base.idx")
    build_base_s = time.perf_counter() - t0

    dh, dt, df = _arrays(rng, args.added)
    ids = list(range(args.base + 1, args.base + args.added + 1))
    blobs = [pack_prints(Prints(a, b, 180.0, c)) for a, b, c in zip(dh, dt, df, strict=True)]
    prints_bytes = sum(len(b) for b in blobs)
    write_pack(zip(ids, blobs, strict=True), out / "delta.atp")
    delta_bytes = (out / "delta.atp").stat().st_size

    t0 = time.perf_counter()
    delta = Index.build(read_pack((out / "delta.atp").read_bytes()))
    seg = SegmentedIndex([base, delta], version="m1")
    apply_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    seg_tomb = SegmentedIndex([base, delta], removed=[1], version="m2")
    tomb_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    whole = Index.from_arrays(
        list(range(1, args.base + args.added + 1)),
        [180.0] * (args.base + args.added),
        h + dh,
        t + dt,
        [PRINTS_PER_TRACK] * (args.base + args.added),
        f + df,
    )
    whole.save(out / "whole.idx")
    full_s = time.perf_counter() - t0
    full_bytes = (out / "whole.idx").stat().st_size

    # one second of query: ~430 pairs x 7 speeds (what the matcher looks up per second)
    query = rng.integers(0, 1 << P.HASH_BITS, 3000).astype(np.uint32)
    # each query hash probes 15 fine keys, as the matcher does (engine v2)
    fines = rng.integers(0, 1 << P.FINE_BITS, (3000, 15)).astype(np.uint16)
    timings = {}
    for name, index in (("one index", whole), ("base + delta", seg), ("+ tombstone", seg_tomb)):
        index.lookup(query, max_postings=32, fines=fines)
        t0 = time.perf_counter()
        for _ in range(50):
            index.lookup(query, max_postings=32, fines=fines)
        timings[name] = (time.perf_counter() - t0) / 50 * 1e6

    print(
        "| base tracks | added | added prints packed (MB) | delta on the wire (MB) | "
        "delta / prints | full snapshot (MB) | worker apply: pack → index → segments (s) | "
        "apply with 1 tombstone in the base (s) | orchestrator full rebuild (s) | "
        "base build (s) | lookup µs per 1 s of query: one index / base+delta / +tombstone |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.base:,} | {args.added} | {prints_bytes / 1e6:.2f} | {delta_bytes / 1e6:.2f} | "
        f"{delta_bytes / prints_bytes:.3f} | {full_bytes / 1e6:,.0f} | {apply_s:.2f} | "
        f"{tomb_s:.2f} | {full_s:.1f} | {build_base_s:.1f} | "
        f"{timings['one index']:.0f} / {timings['base + delta']:.0f} / "
        f"{timings['+ tombstone']:.0f} |"
    )
    for p in out.iterdir():
        p.unlink()
    out.rmdir()


if __name__ == "__main__":
    main()
