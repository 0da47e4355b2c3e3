"""Discovery of recurring unknowns: the cost of a pass, and 100 streams × 24 h on one core.

A synthetic archive at the level of prints (no audio decoded per stream): a pool of
synthetic recordings (tests/unit/_synth_music.py songs, demo jingles) and synthetic
speech is fingerprinted once; each stream's archive is a random sequence of them, the
pairs shifted in time and cut into 60-s segments by the archive's own codec. Songs and
jingles recur across streams and within them; speech never recurs (each airing's pair
features are perturbed, as live speech differs every time). Nothing is covered by plays
(the worst case: every second is unmatched).

Two measurements, one core, in this process:

* **the job on PostgreSQL** (embedded): ``--streams`` × ``--hours`` of archive written,
  then :class:`DiscoveryJob` passes of one minute of every stream each (the cadence),
  timed end to end (read, decode, coverage, sampling, lookup, SQL), unknowns counted;
* **the lookup at full scale** (in memory): a window of 100 streams × 24 h of sampled
  prints (capped by ``AIRTRACK_UNKNOWN_WINDOW_MAX_PRINTS``) drawn from the pool's hash
  distribution, and one pass's query (100 streams × 60 s); its time is what grows with
  the window.

A day of 100 streams is extrapolated: 1,440 passes × (100 × the per-segment cost of the
job + the lookup at full scale). Not run in full.

    python bench/bench_discovery.py                  # 10 streams × 1 h
    python bench/bench_discovery.py --streams 4 --hours 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airtrack.db import connect  # noqa: E402
from airtrack.db.embedded import ensure_server  # noqa: E402
from airtrack.demo.music import render_jingle  # noqa: E402
from airtrack.demo.speech import render_talk  # noqa: E402
from airtrack.fingerprint import params as P  # noqa: E402
from airtrack.fingerprint.archive import concat_pairs, encode_segment, select_pairs  # noqa: E402
from airtrack.fingerprint.landmarks import Pairs  # noqa: E402
from airtrack.fingerprint.recurrence import (  # noqa: E402
    Points,
    PrintWindow,
    find_links,
    sample_points,
)
from airtrack.orchestrator.discovery import DiscoveryJob  # noqa: E402
from airtrack.settings import load_settings  # noqa: E402
from tests.support.archive import pairs_of  # noqa: E402
from tests.unit._synth_music import song  # noqa: E402

FPS = P.FRAMES_PER_S
SR = P.SAMPLE_RATE
SEGMENT_S = 60.0


def pool() -> tuple[list[tuple[Pairs, float]], list[tuple[Pairs, float]]]:
    """(recordings that recur, speech clips), each as (pairs, seconds)."""
    recordings = [(pairs_of(song(900 + i, 90)), 90.0) for i in range(12)]
    recordings += [(pairs_of(render_jingle(40 + i, 7, SR)), 7.0) for i in range(8)]
    speech = [(pairs_of(render_talk(60 + i, 60, SR)), 60.0) for i in range(6)]
    return recordings, speech


def perturbed(pairs: Pairs, rng: np.random.Generator) -> Pairs:
    """The same density of pairs with other features: speech that is never said twice."""
    jitter = rng.normal(0, 0.2, len(pairs)).astype(np.float32)
    return Pairs(pairs.t, pairs.lnf1 + jitter, pairs.df + jitter[::-1], pairs.dt,
                 pairs.fdf, pairs.fdt)  # fmt: skip


def program(
    rng: np.random.Generator, seconds: float, recordings: list[tuple[Pairs, float]],
    speech: list[tuple[Pairs, float]],
) -> Pairs:  # fmt: skip
    """One stream's pairs: speech and recordings at random, anchor frames from 0."""
    parts: list[Pairs] = []
    at = 0.0
    while at < seconds:
        pick = speech if rng.random() < 0.4 else recordings
        pairs, length = pick[int(rng.integers(len(pick)))]
        if pick is speech:
            pairs = perturbed(pairs, rng)
        shift = round(at * FPS)
        parts.append(Pairs(pairs.t + shift, pairs.lnf1, pairs.df, pairs.dt, pairs.fdf, pairs.fdt))
        at += length
    return concat_pairs(parts)


Pool = tuple[list[tuple[Pairs, float]], list[tuple[Pairs, float]]]


def write_archive(
    db_url: str, streams: int, hours: float, seed: int, clips: Pool
) -> tuple[int, datetime]:
    recordings, speech = clips
    rng = np.random.default_rng(seed)
    origin = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours + 0.1)
    step = int(SEGMENT_S * FPS)
    written = 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        ids = [
            int(conn.execute("INSERT INTO streams (name, url) VALUES (%s, %s) RETURNING id",
                             (f"s{i}", f"http://127.0.0.1:9/{i}")).fetchone()[0])  # type: ignore[index]
            for i in range(streams)
        ]  # fmt: skip
        for day in {origin.date(), (origin + timedelta(hours=hours + 1)).date()}:
            conn.execute("SELECT airtrack_archive_partition(%s)", (day,))
        frames = int(hours * 3600 * FPS)
        for sid in ids:
            pairs = program(rng, hours * 3600, recordings, speech)
            rows = []
            for lo in range(0, frames, step):
                part = select_pairs(pairs, (pairs.t >= lo) & (pairs.t < lo + step))
                part = Pairs(part.t - lo, part.lnf1, part.df, part.dt, part.fdf, part.fdt)
                start = origin + timedelta(seconds=lo / FPS)
                # received one minute after it starts: passes read a minute of every stream
                received = start + timedelta(seconds=SEGMENT_S)
                data = encode_segment(step, part)
                rows.append((sid, start, SEGMENT_S, f"{sid}-{lo}", len(part), data, received))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO fingerprint_archive (stream_id, started_at, duration_s,"
                    " idempotency_key, epoch, worker_id, pairs, data, received_at)"
                    " VALUES (%s, %s, %s, %s, 1, 'w', %s, %s, %s)",
                    rows,
                )
            written += len(rows)
    return written, origin


async def run_job(db_url: str, home: Path, streams: int) -> dict[str, float]:
    settings = load_settings(
        home=home, database_url=db_url, unknown_segments_per_pass=streams, log_level="WARNING"
    )
    db = await connect(settings)
    try:
        job = DiscoveryJob(db, settings)
        passes = segments = points = created = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        while True:
            r = await job.step()
            if r.segments == 0:
                break
            passes += 1
            segments += r.segments
            points += r.points
            created += r.created
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        unknowns = await db.fetchval("discovery_created_today")
    finally:
        await db.close()
    return {"passes": passes, "segments": segments, "points": points, "created": created,
            "unknowns": int(unknowns or 0), "cpu": cpu, "wall": wall}  # fmt: skip


def hash_source(clips: Pool, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    """Sampled hashes as a day of broadcasts spreads them: each hash field (anchor
    frequency, frequency step, time step) drawn from its distribution in the pool, so
    the skew is real and the whole hash space is used (a small pool repeated would put
    every point in a few thousand buckets)."""
    recordings, speech = clips
    pts = sample_points(concat_pairs([p for p, _ in recordings + speech]), 0.0, 0, sample=4)
    h = pts.hashes.astype(np.int64)
    q1, q2, q3 = h >> (P.DF_BITS + P.DT_BITS), (h >> P.DT_BITS) & 127, h & 63

    def draw(n: int) -> np.ndarray:
        out = (rng.choice(q1, n) << (P.DF_BITS + P.DT_BITS)) | (rng.choice(q2, n) << P.DT_BITS)
        return (out | rng.choice(q3, n)).astype(np.uint32)

    return draw


def full_scale_lookup(
    points_per_s: float, cap: int, clips: Pool, seed: int, streams: int = 100
) -> dict[str, float]:
    """One pass's lookup against a window of ``streams`` × 24 h (chance hits: the cost
    that grows with the window), the window's prints drawn by :func:`hash_source`."""
    rng = np.random.default_rng(seed)
    draw = hash_source(clips, rng)
    n = min(cap, int(points_per_s * streams * 86_400))
    window = PrintWindow(86_400.0, cap)
    for _ in range(10):  # in chunks, as passes add them
        m = n // 10
        window.add(Points(draw(m), rng.uniform(0, 86_400, m), rng.integers(0, streams, m)))
    window.compact()
    q = int(points_per_s * streams * 60)
    query = Points(draw(q), rng.uniform(86_400, 86_460, q), rng.integers(0, streams, q))
    cpu0 = time.process_time()
    window.add(query)
    links = find_links(query, window, min_hits=10, min_s=5.0, repeat_gap_s=600.0)
    cpu = time.process_time() - cpu0
    return {"window": n, "query": q, "cpu": cpu, "links": len(links)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="airtrack-bench-discovery-"))
    server = ensure_server(home)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench_discovery")
    db_url = server.replace("/postgres?", "/bench_discovery?")
    asyncio.run(_migrate(db_url, home))
    t0 = time.perf_counter()
    clips = pool()
    written, _ = write_archive(db_url, args.streams, args.hours, args.seed, clips)
    print(f"synthetic archive: {args.streams} streams × {args.hours} h = {written} segments "
          f"of {SEGMENT_S:.0f} s, written in {time.perf_counter() - t0:.0f} s")  # fmt: skip
    job = asyncio.run(run_job(db_url, home, args.streams))
    per_seg = job["cpu"] / max(1, job["segments"])
    pts_per_s = job["points"] / max(1.0, job["segments"] * SEGMENT_S)
    defaults = load_settings(home=home)
    full = full_scale_lookup(pts_per_s, defaults.unknown_window_max_prints, clips, args.seed)
    per_pass_100 = 100 * per_seg + full["cpu"]
    stream_hours = args.streams * args.hours
    print()
    print(f"the job on PostgreSQL: {job['passes']} passes of {args.streams} segments "
          f"(one minute of every stream)")  # fmt: skip
    print("| measure | value |")
    print("|---|---|")
    print(f"| CPU of this process per segment (1 stream-minute) | {per_seg * 1000:.1f} ms |")
    print(f"| wall time, whole run ({stream_hours:g} stream-hours) | {job['wall']:.1f} s |")
    print(f"| sampled prints per stream-second (all unmatched) | {pts_per_s:.1f} |")
    print(f"| unknowns made | {job['unknowns']} (cap {defaults.unknown_per_day}/day) |")
    print()
    print("lookup at full scale: window of 100 streams × 24 h, one pass of 100 streams")
    print("| window prints | query prints | CPU of the lookup | window memory |")
    print("|---|---|---|---|")
    print(f"| {full['window']:,} | {full['query']:,} | {full['cpu']:.2f} s | "
          f"{full['window'] * 20 / 1e6:.0f} MB |")  # fmt: skip
    print()
    print("100 streams × 24 h on one core (extrapolated: 1,440 passes)")
    print("| per pass | per day | share of one core |")
    print("|---|---|---|")
    day = 1440 * per_pass_100
    print(f"| {per_pass_100:.2f} s | {day / 3600:.2f} h | {day / 86_400 * 100:.1f} % |")


async def _migrate(db_url: str, home: Path) -> None:
    db = await connect(load_settings(home=home, database_url=db_url))
    await db.close()


if __name__ == "__main__":
    main()
