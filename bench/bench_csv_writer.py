"""CSV writer alone: rows/s of ``CsvChunks.batch`` for the plays and summary reports, in
process, without the database (the part of an export that formula quoting costs).

Run: .venv/bin/python bench/bench_csv_writer.py [--rows 5000] [--rounds 12]

Rows are a typical plays row (a ``-05:00`` offset on every row, which is a plain number
and stays unquoted) and a summary row; the best of ``--rounds`` is printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airtrack.reports.shape import PLAYS, SUMMARY
from airtrack.reports.writers import CsvChunks

PLAY = (
    7, "Paris FM", "2026-03-29T01:59:30-05:00", "2026-03-29T02:02:30-05:00", "-05:00",
    "2026-03-29T06:59:30+00:00", "2026-03-29T07:02:30+00:00", 180.0, "Song, with a comma",
    "Artist", None, None, "FRABC2600001", None, "Ann; Bob", 0.93, 3, True,
)  # fmt: skip
SUMMED = (
    "Paris FM", 3, "Song", "Artist", "FRABC2600001", 12, 2400.0,
    "2026-03-29T01:59:30+01:00", "2026-03-29T01:59:30+01:00",
)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=5000, help="rows per batch")
    ap.add_argument("--rounds", type=int, default=12)
    args = ap.parse_args()
    print(f"{'report':8s} {'rows/s':>10s}")
    for name, cols, row in (("plays", PLAYS, PLAY), ("summary", SUMMARY, SUMMED)):
        batch = [row] * args.rows
        best = float("inf")
        for _ in range(args.rounds):
            writer = CsvChunks(cols)
            t0 = time.perf_counter()
            writer.batch(batch)
            best = min(best, time.perf_counter() - t0)
        print(f"{name:8s} {args.rows / best:>10,.0f}")


if __name__ == "__main__":
    main()
