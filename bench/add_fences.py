"""Add the fine-key fences to an index file written before the index stored them.

    .venv/bin/python bench/add_fences.py INDEX [--out PATH]

The fences (``airtrack/fingerprint/fences.py``: every 512th and every 16th posting's fine
key) are read from the mapped ``keys`` in order, a chunk at a time (memory: the fences
themselves, ~0.13 B per posting, 211 MB at 100,000 tracks).  The new file is the old one
byte for byte (its arrays at the same offsets from a header that also lists the fences)
with the two fence arrays after; it replaces ``INDEX`` unless ``--out``.  A file without
fences still loads and gives the same lookups (its searches bisect the postings).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from airtrack.fingerprint.fences import FENCE_STEPS, fences_of
from airtrack.fingerprint.index import Index
from bench.add_templates import append_arrays


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index", type=Path)
    ap.add_argument("--out", type=Path, help="write here (default: replace INDEX)")
    args = ap.parse_args(argv)
    out = args.out or args.index
    t0 = time.monotonic()
    index = Index.load(args.index)
    if index.has_fences:
        raise SystemExit(f"{args.index} already holds fences")
    coarse, fine = fences_of(index.keys)
    postings = index.n_hashes
    del index
    t1 = time.monotonic()
    arrays = {"fence_coarse": coarse, "fence_fine": fine}
    append_arrays(args.index, out, arrays, fence_steps=list(FENCE_STEPS))  # type: ignore[arg-type]
    nbytes = int(coarse.nbytes + fine.nbytes)
    print(json.dumps({
        "index": str(out), "postings": postings, "fence_bytes": nbytes,
        "bytes_per_posting": round(nbytes / max(1, postings), 3),
        "fences_s": round(t1 - t0, 1), "write_s": round(time.monotonic() - t1, 1),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
