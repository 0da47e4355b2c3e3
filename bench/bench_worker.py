"""Worker capacity benchmark: live streams one worker process sustains on ONE core.

    .venv/bin/python bench/bench_worker.py [--streams 25,50,100] [--window 40] [--quick]

What runs: the built-in station server (``python -m airtrack.demo.icecast``, pinned to
the other core) plays ``--mounts`` stations drawn from the 100-song demo catalog; the
worker side is this script's children, each pinned to core 0 with
``os.sched_setaffinity``, running the worker's real :class:`StreamPipeline` threads
(capture over HTTP → PyAV decode → streaming matcher → play sink), one separate HTTP
connection and decoder per stream (streams are spread over the mounts as listeners).

Per configuration, after a warm-up, over a measuring window:

* CPU: process CPU time / wall time (fraction of the core) and per stream;
* real time: audio seconds decoded per wall second per stream (1.0 = keeps up) and the
  growth of the pipelines' lag behind the live edge;
* memory: RSS growth from before the streams started, per stream;
* detection latency: wall time a play was handed to the outbox minus the airing's start
  in the station's ground truth (``/truth/<mount>``), for songs that began on air after
  the stream connected.

Modes side by side: ``match`` (the worker), ``decode`` (same pipelines, no matcher: the
decode-only floor), and ``procs`` (the same streams split over ``--procs`` processes on
the same core: the process-pool alternative to one process of threads). The machine is
shared and noisy, so the table is best read as ratios measured in one run.

Prints the table and writes bench/RESULTS-worker.md.  Not a test: run by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airtrack.demo.catalog import demo_catalog
from airtrack.protocol import Assignment, PlayIn

RESULTS = Path(__file__).resolve().parent / "RESULTS-worker.md"
CACHE = Path(tempfile.gettempdir()) / "airtrack-bench-worker"
CATALOG_SIZE = 100


# --- preparation (parent) -----------------------------------------------------------


def prepare_index(cache: Path) -> Path:
    """The 100-song demo catalog rendered and fingerprinted once (cached)."""
    from airtrack.demo.catalog import write_catalog
    from airtrack.errors import IndexFileError
    from airtrack.fingerprint import Index, fingerprint_file, pack_prints

    path = cache / "index100.idx"
    try:
        Index.load(path)
        return path
    except (OSError, IndexFileError):  # none yet, or made by another engine version
        pass
    songs = cache / "catalog100"
    paths = sorted(songs.glob("*.mp3"))
    if len(paths) < CATALOG_SIZE:
        print(f"rendering {CATALOG_SIZE} demo songs into {songs} (once) …", flush=True)
        paths = write_catalog(songs, CATALOG_SIZE, "mp3")
    else:  # in catalog order: track i + 1 is demo song i
        paths = [songs / f"{s.name}.mp3" for s in demo_catalog(CATALOG_SIZE)]
    print("fingerprinting the catalog …", flush=True)
    index = Index.build((i + 1, pack_prints(fingerprint_file(p))) for i, p in enumerate(paths))
    index.save(path)
    return path


def start_stations(mounts: int, core: int | None) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    argv = [sys.executable, "-m", "airtrack.demo.icecast", "--port", "0", "--stations",
            str(mounts), "--catalog-size", str(CATALOG_SIZE), "--max-song-s", "40",
            "--no-hls", "--seed", "7"]  # fmt: skip
    if core is not None:
        argv = ["taskset", "-c", str(core), *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{") and '"ready"' in line:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain
            return proc, json.loads(line)
    raise RuntimeError("station server did not start")


# --- one measured process (child) ----------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[tuple[float, PlayIn]] = []

    def put(self, play: PlayIn) -> None:
        if play.ended_at is None:
            with self.lock:
                self.started.append((time.time(), play))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(args: argparse.Namespace) -> None:
    os.sched_setaffinity(0, {args.core})
    from airtrack.fingerprint import SAMPLE_RATE, Index, StreamingMatcher
    from airtrack.worker.capture import CaptureOptions
    from airtrack.worker.pipeline import PipelineConfig, StreamPipeline

    index = Index.load(args.index) if args.mode != "decode" else None
    factory = (lambda: StreamingMatcher(index)) if index is not None else None
    urls: list[str] = json.loads(args.urls)
    rss0 = _rss_kib()
    sink = Sink()
    cfg = PipelineConfig(capture=CaptureOptions(sample_rate=SAMPLE_RATE))
    pipes = []
    connected: dict[int, float] = {}
    for i in range(args.n):
        a = Assignment(stream_id=args.first + i, name=f"s{i}", url=urls[i % len(urls)], epoch=1)
        p = StreamPipeline(a, sink, factory, cfg)  # type: ignore[arg-type]
        connected[a.stream_id] = time.time()
        p.start()
        pipes.append(p)
    time.sleep(args.warmup)

    def snap() -> tuple[float, float, float, list[float]]:
        t = os.times()
        lags = [p.report().lag_s or 0.0 for p in pipes]
        return time.monotonic(), t.user + t.system, sum(p.audio_s for p in pipes), lags

    w0, c0, a0, lag0 = snap()
    time.sleep(args.window)
    w1, c1, a1, lag1 = snap()
    rss1 = _rss_kib()
    for p in pipes:
        p.stop()
    wall = w1 - w0
    out = {
        "n": args.n,
        "cpu_core": (c1 - c0) / wall,
        "audio_ratio": (a1 - a0) / wall / args.n,
        "lag_growth_max_s": max(b - a for a, b in zip(lag0, lag1, strict=True)),
        "lag_end_median_s": statistics.median(lag1),
        "rss_base_mib": rss0 / 1024,
        "rss_growth_mib": (rss1 - rss0) / 1024,
        "failed": sum(p.status in ("failed", "retrying") for p in pipes),
        "plays": [
            {
                "stream_id": pl.stream_id,
                "url": urls[(pl.stream_id - args.first) % len(urls)],
                "track_id": pl.track_id,
                "reported": t,
                "connected": connected[pl.stream_id],
                "started_at": pl.started_at.isoformat(),
            }
            for t, pl in sink.started
        ],
    }
    Path(args.out).write_text(json.dumps(out))
    os._exit(0)  # do not wait for capture threads blocked on a socket


# --- orchestration (parent) ---------------------------------------------------------


def run_config(
    mode: str, n: int, procs: int, urls: list[str], index: Path, a: argparse.Namespace
) -> dict[str, Any]:
    shares = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    children = []
    first = 1
    for share in shares:
        argv = [sys.executable, __file__, "--child", "--mode", mode, "--n", str(share),
                "--first", str(first), "--urls", json.dumps(urls), "--index", str(index),
                "--core", str(a.core), "--warmup", str(a.warmup),
                "--window", str(a.window)]  # fmt: skip
        out = Path(tempfile.mkstemp(prefix="bench-worker-", suffix=".json")[1])
        argv += ["--out", str(out)]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.append((proc, out))
        first += share
    results = []
    for c, out in children:
        c.wait(timeout=a.warmup + a.window + 120)
        text = out.read_text()
        out.unlink()
        if not text:
            raise RuntimeError(f"child failed (rc {c.returncode})")
        results.append(json.loads(text))
    return {
        "mode": mode if procs == 1 else f"{mode} ×{procs} procs",
        "n": n,
        "cpu_core": sum(r["cpu_core"] for r in results),
        "audio_ratio": min(r["audio_ratio"] for r in results),
        "lag_growth_max_s": max(r["lag_growth_max_s"] for r in results),
        "lag_end_median_s": statistics.median(r["lag_end_median_s"] for r in results),
        "rss_growth_mib": sum(r["rss_growth_mib"] for r in results),
        "rss_total_mib": sum(r["rss_base_mib"] + r["rss_growth_mib"] for r in results),
        "failed": sum(r["failed"] for r in results),
        "plays": [p for r in results for p in r["plays"]],
    }


def latencies(plays: list[dict[str, Any]], truth_urls: dict[str, str]) -> tuple[list[float], int]:
    """Seconds from song start on air to the play handed over; and false detections."""
    import httpx

    title = {i + 1: s.title for i, s in enumerate(demo_catalog(CATALOG_SIZE))}
    truth = {}
    for mount, url in truth_urls.items():
        truth[mount] = [a for a in httpx.get(url, timeout=10).json()["airings"]
                        if a["kind"] == "song"]  # fmt: skip
    out, false = [], 0
    for p in plays:
        mount = p["url"].rsplit("/", 1)[-1]
        started = datetime.fromisoformat(p["started_at"]).timestamp()
        match = [  # the airing of that song that the play starts in (or just before)
            a
            for a in truth[mount]
            if a["title"] == title[p["track_id"]]
            and datetime.fromisoformat(a["started_at"]).timestamp() - 10
            <= started
            <= datetime.fromisoformat(a["ended_at"]).timestamp()
        ]
        if not match:
            false += 1
            continue
        on_air = datetime.fromisoformat(match[0]["started_at"]).timestamp()
        if on_air > p["connected"] + 2:  # began on air while we were listening
            out.append(p["reported"] - on_air)
    return out, false


def fmt(rows: list[dict[str, Any]]) -> list[str]:
    head = (
        "| mode | streams | CPU (core) | CPU/stream | real-time ratio | lag growth max | "
        "RSS growth | RSS/stream | detect latency median (p90, n) | false | failed |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        lat = r.get("latency", [])
        lat_s = "–"
        if lat:
            q = sorted(lat)
            p90 = q[max(0, -(-9 * len(q) // 10) - 1)]
            lat_s = f"{statistics.median(q):.1f} s ({p90:.1f}, {len(q)})"
        lines.append(
            f"| {r['mode']} | {r['n']} | {100 * r['cpu_core']:.0f} % | "
            f"{1000 * r['cpu_core'] / r['n']:.1f} ms/s | {r['audio_ratio']:.3f} | "
            f"{r['lag_growth_max_s']:.1f} s | {r['rss_growth_mib']:.0f} MiB | "
            f"{r['rss_growth_mib'] / r['n']:.2f} MiB | {lat_s} | {r.get('false', '–')} | "
            f"{r['failed']} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="match")
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--urls", default="[]", help=argparse.SUPPRESS)
    ap.add_argument("--index", default="")
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    ap.add_argument("--core", type=int, default=0, help="the core the worker side is pinned to")
    ap.add_argument("--station-core", type=int, default=1)
    ap.add_argument("--streams", default="25,50,100", help="stream counts to try")
    ap.add_argument("--mounts", type=int, default=8)
    ap.add_argument("--procs", type=int, default=2, help="processes of the pool alternative")
    ap.add_argument("--warmup", type=float, default=15.0)
    ap.add_argument("--window", type=float, default=45.0)
    ap.add_argument("--quick", action="store_true", help="one small configuration")
    a = ap.parse_args()
    if a.child:
        child(a)
        return
    index = prepare_index(CACHE)
    counts = [10] if a.quick else [int(x) for x in a.streams.split(",")]
    ncpu = os.cpu_count() or 1
    station_core = a.station_core if ncpu > 1 else None
    server, info = start_stations(a.mounts, station_core)
    urls = list(info["mounts"].values())
    rows: list[dict[str, Any]] = []
    try:
        for n in counts:
            plan = [("decode", 1), ("match", 1), ("match", a.procs)]
            for mode, procs in plan:
                r = run_config(mode, n, procs, urls, index, a)
                if mode == "match":
                    r["latency"], r["false"] = latencies(r["plays"], info["truth"])
                rows.append(r)
                print("\n".join(fmt([r])[2:]), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=20)
    table = fmt(rows)
    print("\n".join(table))
    argv = " ".join(sys.argv[1:])
    text = [
        "# Worker capacity: streams per core",
        "",
        f"Command: `.venv/bin/python bench/bench_worker.py {argv}`".rstrip(),
        "",
        f"Worker side pinned to core {a.core} (`os.sched_setaffinity`); station server "
        f"({a.mounts} mounts, 100-song demo catalog, MP3 128 kbps, songs ≤ 40 s) on core "
        f"{station_core}. Warm-up {a.warmup:g} s, window {a.window:g} s. Machine: {ncpu} cores, "
        "shared with other jobs — compare rows of one run, not runs.",
        "",
        *table,
        "",
    ]
    RESULTS.write_text("\n".join(text))
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
