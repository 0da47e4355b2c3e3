"""Chaos benchmark: every fault scenario of the end-to-end suite, one table.

Run: .venv/bin/python bench/bench_chaos.py [--blackhole-s 120] [--only a,b] [--no-write]

Brings up one real system (embedded PostgreSQL, 4 built-in stations + a real icecast2 mount
fed by ffmpeg when both are installed, 2 orchestrator replicas, 3 workers, one behind the
fault proxy), then runs the scenarios one after another. Per scenario it prints: seconds until
every stream was owned again by a healthy worker, plays expected / logged / lost / duplicated
against the stations' ground truth (what counts: tests/e2e/chaos_support.py docstring),
fencing errors, old-epoch writes refused, alerts raised, streams per worker afterwards.
Writes the table to bench/RESULTS-chaos.md.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airtrack.logging import configure_logging  # noqa: E402
from tests.e2e import chaos_support as cs  # noqa: E402
from tests.e2e.icecast2_support import MISSING  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS-chaos.md"
ORDER = [
    "worker_sigkill",
    "worker_zombie",
    "leader_failover",
    "orchestrator_restart",
    "pg_restart",
    "blackhole",
    "worker_join",
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--blackhole-s", type=float, default=120.0)
    p.add_argument("--only", default="", help="comma-separated scenario names")
    p.add_argument("--cache", default="", help="folder to keep the generated catalog in")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    configure_logging("WARNING", json=True)
    names = [n for n in args.only.split(",") if n] or ORDER
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="airtrack-bench-"))
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    results: list[cs.ScenarioResult] = []
    failed: dict[str, str] = {}
    ice = ""
    try:
        with cs.running_system(cs.SystemConfig(replicas=2), cache) as system:
            up_s = time.monotonic() - t0
            print(f"system up in {up_s:.0f} s (home {system.home})", flush=True)
            for name in names:
                print(f"== {name}", flush=True)
                try:
                    if name == "blackhole":
                        res = cs.run_blackhole(system, args.blackhole_s)
                    else:
                        res = cs.SCENARIOS[name](system)
                except AssertionError as exc:
                    failed[name] = str(exc)[:500]
                    print(f"   FAILED: {failed[name]}", flush=True)
                    continue
                results.append(res)
                print(f"   {res.row()}", flush=True)
                for prob in res.problems():
                    print(f"   PROBLEM {prob}", flush=True)
                for note in res.notes:
                    print(f"   note: {note}", flush=True)
                try:
                    ice = ice_summary(system)
                except Exception as exc:  # a diagnostic: never stop the run for it
                    print(f"   ice-live summary failed: {exc!r}", flush=True)
                if ice:
                    print(f"   {ice}", flush=True)
    finally:
        if not args.cache:
            shutil.rmtree(cache, ignore_errors=True)
    total = time.monotonic() - t0
    text = cs.table(results)
    print(text)
    print(f"total {total:.0f} s")
    if not args.no_write:
        write(results, failed, total, args, ice)
    return 1 if failed or any(r.problems() for r in results) else 0


def ice_summary(system: cs.System) -> str:
    """How far the ``ice-*`` plays start from the measured ground truth, over the whole run:
    range, median and the least-squares drift (a feed off real time would show here)."""
    offs = system.ice_offsets()
    if len(offs) < 2:
        return ""
    d = sorted(o for _, _, o in offs)
    t0 = offs[0][0]
    # A worker that connects mid-song dates the play from its connection: leave those out.
    fit = [(t, o) for t, _, o in offs if abs(o) < 2.0]
    xs = [(t - t0) / 60 for t, _ in fit]
    ys = [o for _, o in fit]
    if len(fit) < 2:
        return ""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    return (
        f"ice-live: {len(d)} plays over {(offs[-1][0] - t0) / 60:.0f} min start {d[0]:+.2f} … "
        f"{d[-1]:+.2f} s (median {d[len(d) // 2]:+.2f} s) from the measured airing start, "
        f"drift {slope * 1000:+.0f} ms/min (fit on the {len(fit)} within 2 s)"
    )


def write(
    results: list[cs.ScenarioResult],
    failed: dict[str, str],
    total: float,
    args: argparse.Namespace,
    ice_line: str = "",
) -> None:
    cmd = "python bench/bench_chaos.py" + (
        f" --blackhole-s {args.blackhole_s:g}" if args.blackhole_s != 120 else ""
    )
    ice = "a real icecast2 mount fed by ffmpeg" if not MISSING else "no icecast2 (not installed)"
    lines = [
        "# Chaos benchmark",
        "",
        f"Command: `.venv/bin/{cmd}` (from the repository root). "
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.processor() or platform.machine()}), {total:.0f} s in all.",
        "",
        f"System: embedded PostgreSQL, 4 built-in stations (songs capped at "
        f"{cs.SystemConfig().max_song_s:g} s) and {ice}, 2 orchestrator replicas, 3 workers "
        "(capacity 4; `w3` reaches the orchestrator through the fault proxy); heartbeat 1 s, "
        "lease 4 s, control tick 0.5 s, start grace 3 s (see `FAST_ENV` in "
        "`tests/e2e/chaos_support.py`). Scenarios run one after another on the same system.",
        "",
        "Columns: *owned again* — seconds from the fault until a sample showed every stream "
        "assigned to a healthy, active worker; *expected* — catalog airings fully inside the "
        f"scenario's window that were audible ≥ {cs.MIN_COVER_S:g} s while one healthy worker "
        "owned the stream; *logged* — those with a matching play; *lost*/*duplicated* — "
        "against that ground truth; *unmatched* — plays matching no catalog airing "
        "(recognition false positives); *fencing errors* — a (stream, epoch) with plays from "
        "two workers or from a worker that did not own that epoch; *stale refused* — "
        "`plays.stale_refused` log lines (old-epoch writes refused); *alerts raised* — new "
        "alerts in `GET /api/v1/alerts?all=true`.",
        "",
        cs.table(results),
        "",
    ]
    if ice_line:
        lines += [
            "Ground truth of `ice-live`: ffmpeg's `-progress` reports (output media time, "
            "stamped with the wall clock) give the time each song boundary went out; "
            f"{ice_line}.",
            "",
        ]
    notes = [f"- {r.name}: {n}" for r in results for n in r.notes]
    notes += [f"- {r.name}: PROBLEM {p}" for r in results for p in r.problems()]
    notes += [f"- {n}: FAILED {msg}" for n, msg in failed.items()]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
