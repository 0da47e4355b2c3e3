"""Balancer timing and move counts for 10,000 streams × 500 workers (target ≤ 100 ms).

Run: .venv/bin/python bench/bench_balancer.py [--streams 10000] [--workers 500] [--runs 7]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from collections.abc import Callable, Mapping

from airtrack.orchestrator.balancer import Plan, WorkerSlot, balance


def _measure(fn: Callable[[], Plan], runs: int) -> tuple[list[float], Plan]:
    times = []
    plan = fn()  # warm-up, not counted
    for _ in range(runs):
        start = time.perf_counter()
        plan = fn()
        times.append((time.perf_counter() - start) * 1000)
    return times, plan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--streams", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=500)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    n, m = args.streams, args.workers
    cap = 2 * (-(-n // m))  # twice the fair share: room to balance
    streams = list(range(n))
    workers = [WorkerSlot(f"w{i:04d}", cap) for i in range(m)]
    balanced: Mapping[int, str | None] = balance(streams, workers, {}).target

    rnd = random.Random(7)
    mixed = [WorkerSlot(w.id, rnd.choice([0, 5, 10, 20, 40, 80])) for w in workers]
    gone = workers[m // 2]
    lowered = [WorkerSlot(w.id, cap // 4) if i % 10 == 0 else w for i, w in enumerate(workers)]
    pinned = frozenset(rnd.sample(streams, n // 10))

    scenarios: list[tuple[str, Callable[[], Plan]]] = [
        ("cold start (from empty)", lambda: balance(streams, workers, {})),
        ("cold start, mixed capacities", lambda: balance(streams, mixed, {})),
        ("no change (already balanced)", lambda: balance(streams, workers, balanced)),
        ("join: +1 worker", lambda: balance(streams, [*workers, WorkerSlot("new", cap)], balanced)),
        ("leave: −1 worker", lambda: balance(streams, [w for w in workers if w != gone], balanced)),
        (
            "leave, recovery mode",
            lambda: balance(streams, [w for w in workers if w != gone], balanced, voluntary=False),
        ),
        ("capacity ÷4 on 10% of workers", lambda: balance(streams, lowered, balanced)),
        (
            "join with 10% pinned",
            lambda: balance(streams, [*workers, WorkerSlot("new", cap)], balanced, pinned=pinned),
        ),
    ]

    print(
        f"balancer: {n} streams × {m} workers (capacity {cap}), median of {args.runs} runs, "
        f"Python {platform.python_version()} on {platform.machine()}"
    )
    header = (
        f"| {'scenario':<32} | {'median ms':>9} | {'min ms':>7} | {'max ms':>7} | {'moves':>6} |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name, fn in scenarios:
        times, plan = _measure(fn, args.runs)
        print(
            f"| {name:<32} | {statistics.median(times):>9.1f} | {min(times):>7.1f} | "
            f"{max(times):>7.1f} | {len(plan.moves):>6} |"
        )


if __name__ == "__main__":
    main()
