"""Reports benchmark: a year of plays on 200 stations exported through the API.

Run: .venv/bin/python bench/bench_reports.py [--plays 1000000] [--stations 200]

Loads ``--plays`` plays (evenly over 2025, 200 s each, 1,000 catalog tracks with full
credits) into a private embedded PostgreSQL in one INSERT … SELECT per table (named
queries ``bench_fill_*`` in airtrack/db/queries_reports.sql), starts a real
``airtrack orchestrator`` process and measures:

* ``report plays`` for every station and the whole year as CSV through the API:
  rows/s, and the orchestrator's peak RSS (VmHWM) before and after;
* the same as XLSX (constant-memory writer into a temporary file);
* one station-month as CSV: median of 5 requests.

Targets (issue 10): ≥ 50,000 rows/s, RSS growth ≤ 100 MB, one station-month ≤ 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airtrack.db.embedded import ensure_server  # noqa: E402
from airtrack.db.queries import sql  # noqa: E402
from airtrack.demo.cluster import free_port  # noqa: E402

ADMIN = "bench-admin"
YEAR_S = 365 * 86_400


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def load(db_url: str, stations: int, plays: int) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql("bench_fill_streams"), {"n": stations})
        conn.execute(sql("bench_fill_tracks"), {"n": 1000})
        conn.execute(
            sql("bench_fill_plays"),
            {
                "t0": datetime(2025, 1, 1, tzinfo=UTC),
                "span_s": YEAR_S,
                "per_stream": plays // stations,
            },
        )
        conn.execute("VACUUM ANALYZE plays")
        conn.execute("VACUUM ANALYZE tracks")
    return time.perf_counter() - t0


def export(url: str, params: dict[str, str]) -> tuple[float, int, int]:
    """Seconds, data rows (CSV lines - header) and bytes of one report download."""
    rows = size = 0
    t0 = time.perf_counter()
    with httpx.stream(
        "GET",
        f"{url}/api/v1/reports/plays",
        params=params,
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=3600,
    ) as r:
        r.raise_for_status()
        for chunk in r.iter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\n")
    return time.perf_counter() - t0, rows - 1, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plays", type=int, default=1_000_000)
    ap.add_argument("--stations", type=int, default=200)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="airtrack-bench-reports-"))
    table: list[tuple[str, str, str]] = []
    proc = None
    try:
        server = ensure_server(home)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_reports")
        db_url = server.replace("/postgres?", "/bench_reports?")
        # the orchestrator migrates the new database at start
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(home / "orchestrator.log", "w")  # noqa: SIM115
        env = {
            **os.environ,
            "AIRTRACK_DATABASE_URL": db_url,
            "AIRTRACK_HOME": str(home),
            "AIRTRACK_ADMIN_TOKEN": ADMIN,
            "AIRTRACK_WORKER_TOKEN": "bench-worker",
            "AIRTRACK_LOG_LEVEL": "WARNING",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "airtrack", "orchestrator", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("orchestrator did not start")
            time.sleep(0.2)
        loaded = load(db_url, args.stations, args.plays)
        table.append(
            (
                "load (INSERT … SELECT + VACUUM ANALYZE)",
                f"{args.plays:,} plays in {loaded:.1f} s",
                "—",
            )
        )
        month = {"from": "2025-03-01", "to": "2025-03-31", "stream": "bench-001"}
        export(url, month)  # warm up: imports, pool, plans
        before = vm_hwm_mb(proc.pid)
        secs, rows, size = export(url, {"from": "2025-01-01", "to": "2025-12-31"})
        after = vm_hwm_mb(proc.pid)
        table.append(
            (
                f"report plays, {args.stations} stations × a year, CSV via API",
                f"{rows:,} rows, {size / 1e6:.0f} MB in {secs:.1f} s = {rows / secs:,.0f} rows/s",
                "≥ 50,000 rows/s",
            )
        )
        table.append(
            (
                "orchestrator peak RSS (VmHWM) before → after",
                f"{before:.0f} → {after:.0f} MB (growth {after - before:.0f} MB)",
                "growth ≤ 100 MB",
            )
        )
        t0 = time.perf_counter()
        with httpx.stream(
            "GET",
            f"{url}/api/v1/reports/plays",
            params={"from": "2025-01-01", "to": "2025-12-31", "format": "xlsx"},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=3600,
        ) as r:
            r.raise_for_status()
            xsize = sum(len(c) for c in r.iter_bytes())
        xsecs = time.perf_counter() - t0
        xafter = vm_hwm_mb(proc.pid)
        table.append(
            (
                "the same as XLSX (constant-memory writer)",
                f"{xsize / 1e6:.0f} MB in {xsecs:.1f} s = {rows / xsecs:,.0f} rows/s; "
                f"VmHWM {xafter:.0f} MB",
                "—",
            )
        )
        times, mrows = [], 0
        for _ in range(5):
            s, mrows, _ = export(url, month)
            times.append(s)
        table.append(
            (
                "one station-month (report plays, CSV via API), median of 5",
                f"{statistics.median(times) * 1000:.0f} ms ({mrows} rows)",
                "≤ 1 s",
            )
        )
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(home, ignore_errors=True)
    width = max(len(r[0]) for r in table)
    print(f"\n| {'measure':<{width}} | result | target |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for name, result, target in table:
        print(f"| {name:<{width}} | {result} | {target} |")


if __name__ == "__main__":
    main()
