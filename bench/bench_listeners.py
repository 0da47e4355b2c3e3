"""Listener figures in reports: what the per-play listener lookup costs.

Run: .venv/bin/python bench/bench_listeners.py [--plays 100000] [--stations 20]

Loads ``--plays`` plays into a private embedded PostgreSQL (as bench_reports.py does:
evenly over 2025, 200 s each), then times the ``report_summary`` and
``report_soundexchange`` queries over the whole year for every station (median of 3):

* with no listener samples (stations without a stats URL: the per-station gate skips
  the lookup);
* with one sample a minute on every station all year (each play looks up the few
  samples over it on the (stream_id, at) primary key).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_reports import load  # noqa: E402

from airtrack.db import Database, migrate  # noqa: E402
from airtrack.db.embedded import ensure_server  # noqa: E402
from airtrack.db.queries import sql  # noqa: E402
from airtrack.settings import load_settings  # noqa: E402


def timed(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> float:
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        conn.execute(sql(query), params).fetchall()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--plays", type=int, default=100_000)
    ap.add_argument("--stations", type=int, default=20)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="airtrack-bench-listeners-"))
    try:
        server = ensure_server(home)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_listeners")
        url = server.replace("/postgres?", "/bench_listeners?")

        async def migrated() -> None:
            db = Database(url, load_settings(home=home), min_size=0, max_size=1)
            await db.open()
            try:
                await migrate(db)
            finally:
                await db.close()

        asyncio.run(migrated())
        load(url, args.stations, args.plays)
        rows: list[tuple[str, str]] = []
        with psycopg.connect(url, autocommit=True) as conn:
            found = conn.execute("SELECT id, name, timezone FROM streams ORDER BY name")
            st = found.fetchall()
            params = {
                "ids": [s[0] for s in st],
                "names": [s[1] for s in st],
                "tzs": [s[2] for s in st],
                "t0s": [datetime(2025, 1, 1, tzinfo=UTC)] * len(st),
                "t1s": [datetime(2026, 1, 1, tzinfo=UTC)] * len(st),
                "max_play_s": 86400.0,
                "across_tz": "UTC",
                "hold_s": 150.0,
            }
            for query in ("report_summary", "report_soundexchange"):
                rows.append((f"{query}, no samples", f"{timed(conn, query, params):.2f} s"))
            t0 = time.perf_counter()
            conn.execute(
                "INSERT INTO listener_samples SELECT s.id, g, 5 FROM streams s, "
                "generate_series('2025-01-01'::timestamptz, '2025-12-31', '60 s') g"
            )
            conn.execute("VACUUM ANALYZE listener_samples")
            n = conn.execute("SELECT count(*) FROM listener_samples").fetchone()
            rows.append(
                ("load samples", f"{n[0] if n else 0:,} in {time.perf_counter() - t0:.1f} s")
            )
            for query in ("report_summary", "report_soundexchange"):
                rows.append((f"{query}, a sample a minute", f"{timed(conn, query, params):.2f} s"))
        print(f"{args.plays:,} plays on {args.stations} stations over 2025 (median of 3)")
        print("| measure | result |\n|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
