"""Catalog ingest throughput: ``airtrack catalog add`` of a library on 1 and on 2 cores.

    .venv/bin/python bench/bench_ingest.py [--files 24] [--seconds 180] [--format mp3]

Renders ``--files`` distinct demo songs (``--seconds`` each, 44.1 kHz mono) into a temp
library, starts a private embedded PostgreSQL, then per configuration runs the real CLI
(``airtrack catalog add --jobs J``, pinned to J cores with ``taskset``) into a fresh
database and reports files/s and × real time (seconds of audio fingerprinted and stored
per wall second).  The CLI's start (imports, database open and migration) is measured
once with an empty folder and subtracted.  The machine is shared: read the rows as ratios
of one run.  Not a test: run by hand.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airtrack.db.embedded import ensure_server  # noqa: E402
from airtrack.demo.catalog import encode_audio  # noqa: E402
from airtrack.demo.music import render_song  # noqa: E402

SR = 44_100


def _library(folder: Path, files: int, seconds: float, fmt: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        path = folder / f"song{i:03d}.{fmt}"
        encode_audio(path, render_song(1000 + i, seconds, SR), SR, fmt, title=f"s{i}")  # type: ignore[arg-type]


def _run(server: str, home: Path, name: str, folder: Path, jobs: int) -> float:
    """Wall seconds of one ``catalog add`` (CPU time is not measured: the pool's workers
    are the forkserver's children, which ``RUSAGE_CHILDREN`` never sees)."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env |= {
        "AIRTRACK_DATABASE_URL": server.replace("/postgres?", f"/{name}?"),
        "AIRTRACK_HOME": str(home),
    }
    cores = ",".join(str(c) for c in range(max(1, jobs)))
    cmd = ["taskset", "-c", cores, sys.executable, "-m", "airtrack", "catalog", "add"]
    t0 = time.perf_counter()
    done = subprocess.run(
        [*cmd, "--jobs", str(jobs), str(folder)], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"catalog add failed: {done.stderr[-2000:]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--format", default="mp3", choices=["mp3", "ogg", "flac", "wav"])
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="airtrack-bench-ingest-"))
    try:
        lib, empty = home / "lib", home / "empty"
        empty.mkdir()
        print(f"rendering {args.files} × {args.seconds:.0f} s {args.format} …", flush=True)
        _library(lib, args.files, args.seconds, args.format)
        server = ensure_server(home)
        start = _run(server, home, "bench_start", empty, 1)
        audio_s = args.files * args.seconds
        print(f"CLI start (empty folder, subtracted): {start:.2f} s")
        print(f"{'cores':>5} {'wall s':>8} {'files/s':>8} {'x real time':>12}")
        for jobs in (1, 2):
            wall = _run(server, home, f"bench_j{jobs}", lib, jobs) - start
            print(f"{jobs:>5} {wall:>8.2f} {args.files / wall:>8.2f} {audio_s / wall:>12.0f}")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
