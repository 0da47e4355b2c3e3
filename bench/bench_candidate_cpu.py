"""CPU of the candidate search inside a scan: ``scan_file`` of one station against the
one-core snapshot (``bench/bench_onecore.py`` builds it), with the CPU time of the main
thread spent in ``evidence.best_candidate`` summed, and the process CPU of the whole scan
(the decode thread included).

    PYTHONPATH=<tree> taskset -c 0 .venv/bin/python bench/bench_candidate_cpu.py A-fm128

Run it with two trees on ``PYTHONPATH`` alternately to compare them.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import airtrack
import airtrack.fingerprint.matcher as matcher
from airtrack.fingerprint import Index, scan_file

DATA = Path(__file__).resolve().parent / "data"


def main() -> None:
    station = sys.argv[1] if len(sys.argv) > 1 else "A-fm128"
    snaps = sorted(
        (DATA / "onecore-home" / "snapshots").glob("*.idx"), key=lambda p: p.stat().st_mtime
    )
    index = Index.load(snaps[-1])
    spent = [0.0]
    inner = matcher.best_candidate

    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.thread_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - t

    matcher.best_candidate = timed
    t0 = time.process_time()
    plays = scan_file(DATA / f"{station}-25min.mp3", index)
    cpu = time.process_time() - t0
    tree = Path(airtrack.__file__).parent.parent
    print(f"{station} {tree} scan {cpu:.3f} s, best_candidate {spent[0]:.3f} s, {len(plays)} plays")


if __name__ == "__main__":
    main()
