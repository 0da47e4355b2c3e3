"""Reports benchmark: a year of plays on 200 stations exported through the API.

Run: .venv/bin/python bench/bench_reports.py [--plays 1000000] [--stations 200]

Loads ``--plays`` plays (evenly over 2025, 200 s each, 1,000 catalog tracks with full
credits) into a private embedded PostgreSQL in one INSERT … SELECT per table (named
queries ``bench_fill_*`` in airtrack/db/queries_reports.sql), starts a real
``airtrack orchestrator`` process and measures:

* ``report plays`` for every station and the whole year as CSV through the API
  (downloaded by curl): rows/s, and the orchestrator's peak RSS (VmHWM) before and after;
* the orchestrator's CPU seconds for that export (a figure the machine's load does
  not distort, unlike rows/s);
* ``report summary`` over the same year;
* the same plays export as XLSX (constant-memory writer into a temporary file);
* one station-month as CSV: median of 5 requests.

Targets: ≥ 50,000 rows/s, RSS growth ≤ 100 MB, one station-month ≤ 1 s.
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


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    """Seconds, data rows (CSV lines - header) and bytes of one report download.

    The client is curl into wc, not Python: on a 2-core machine a Python client parsing
    236 MB would take a core from the orchestrator and PostgreSQL it is measuring.
    """
    query = str(httpx.QueryParams(params))
    t0 = time.perf_counter()
    curl = subprocess.Popen(
        [
            "curl",
            "-sSf",
            "-H",
            f"Authorization: Bearer {ADMIN}",
            f"{url}/api/v1/reports/plays?{query}",
        ],
        stdout=subprocess.PIPE,
    )
    assert curl.stdout is not None
    counted = subprocess.run(["wc", "-lc"], stdin=curl.stdout, capture_output=True, text=True)
    curl.stdout.close()
    if curl.wait() != 0:
        raise RuntimeError(f"curl failed: {curl.returncode}")
    secs = time.perf_counter() - t0
    lines, size = (int(x) for x in counted.stdout.split())
    return secs, lines - 1, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plays", type=int, default=1_000_000)
    ap.add_argument("--stations", type=int, default=200)
    ap.add_argument("--no-xlsx", action="store_true", help="skip the (slow) XLSX export")
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
        cpu0 = cpu_s(proc.pid)
        secs, rows, size = export(url, {"from": "2025-01-01", "to": "2025-12-31"})
        cpu = cpu_s(proc.pid) - cpu0
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
                "  orchestrator CPU for that export (load-independent)",
                f"{cpu:.1f} CPU-s = {rows / cpu:,.0f} rows per CPU-second "
                f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
                "—",
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
        r = httpx.get(
            f"{url}/api/v1/reports/summary",
            params={"from": "2025-01-01", "to": "2025-12-31"},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=3600,
        )
        r.raise_for_status()
        table.append(
            (
                f"report summary, {args.stations} stations × a year, CSV via API",
                f"{time.perf_counter() - t0:.1f} s ({r.text.count(chr(10)) - 1:,} rows)",
                "—",
            )
        )
        if not args.no_xlsx:
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
