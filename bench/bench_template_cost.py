"""CPU of a whole-file scan with and without the template reach near play boundaries.

    PYTHONPATH=. taskset -c 0 .venv/bin/python bench/bench_template_cost.py STATION on|off

``scan_file`` of ``bench/data/STATION-25min.mp3`` against the one-core bench's snapshot
(``bench/data/onecore-home/snapshots``, built by ``bench_onecore.py``; it must carry the
tracks' templates), ``faint_boundaries`` on or off; prints the process CPU (the decode
thread included) and the plays found.  Run the two alternately, a process per scan.
Not a test.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from airtrack.fingerprint import Index, scan_file

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("station", help="e.g. A-fm128")
    ap.add_argument("rule", choices=("on", "off"))
    args = ap.parse_args()
    snaps = sorted((DATA / "onecore-home" / "snapshots").glob("*.idx"))
    if not snaps:
        raise SystemExit("no snapshot: run bench/bench_onecore.py once first")
    index = Index.load(snaps[-1])
    if not index.has_templates:
        raise SystemExit(f"{snaps[-1]} has no templates: delete it and rerun bench_onecore.py")
    t0 = time.process_time()
    plays = scan_file(DATA / f"{args.station}-25min.mp3", index, faint_boundaries=args.rule == "on")
    print(args.station, args.rule, round(time.process_time() - t0, 3), len(plays))


if __name__ == "__main__":
    main()
