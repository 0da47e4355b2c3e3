"""A bulk ingest into a large catalog, end to end: how fresh the served catalog stays.

    .venv/bin/python bench/bench_catalog_ingest_live.py [--base 10000] [--added 2000]
        [--rate 20] [--timeout-s 1200] [--poll-s 0.5] [--settle]

Starts a private embedded PostgreSQL in a temp ``AIRTRACK_HOME``, migrates it with the
real code and seeds ``--base`` tracks straight into ``tracks``/``track_prints`` (COPY;
synthetic prints as in bench_catalog_delta.py: 16,400 a track, uniform random hashes and
fine keys, packed with ``pack_prints``; the seeded tracks are marked back-filled), bumps
the catalog revision, then starts a real ``airtrack orchestrator`` on 127.0.0.1 and waits
for its first base.  Then, at once:

- an *uploader* sends ``--added`` more tracks through the uploads API (``PrintsUpload``,
  admin token) at ``--rate`` a second;
- a *follower* does what a worker does: polls the catalog manifest (worker token) every
  ``--poll-s``, downloads the segments of each new version it does not hold yet (checked
  against the sha256 header) and works out the track ids it serves (a base's
  ``Index.track_ids``, a delta's ``read_pack`` ids, less the removed);
- a *plan watcher* reads the shared plan (``catalog_manifest``) every ``--poll-s``, to
  split the lag into upload → planned and planned → served;
- the orchestrator's VmRSS/VmHWM is sampled from /proc.

Measures, per uploaded track, the time from its upload's reply to the first manifest
that serves it; the manifest changes, their segments and the bytes a follower downloads;
each base built during the ingest (from the orchestrator's log: ``catalog.segment.built``)
and whether and when it was served.  Ends when every uploaded track is served or after
``--timeout-s`` (with ``--settle``, once a base planned during the ingest is served too).
Prints a Markdown table and the per-manifest timeline.  The defaults
need ~2-3 GB of disk per base and several GB of RAM.  Not a test: run by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import functools
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from airtrack.catalog.manifest import _target, next_name  # noqa: E402
from airtrack.catalog.store import ENGINE  # noqa: E402
from airtrack.db import connect, ensure_server  # noqa: E402
from airtrack.fingerprint import Index, pack_prints  # noqa: E402
from airtrack.fingerprint import params as P  # noqa: E402
from airtrack.fingerprint.landmarks import Prints  # noqa: E402
from airtrack.fingerprint.segments import read_pack  # noqa: E402
from airtrack.processes import die_with_parent  # noqa: E402
from airtrack.protocol import (  # noqa: E402
    MANIFEST_PATH,
    SEGMENT_PATH,
    SNAPSHOT_SHA256_HEADER,
    UPLOADS_PATH,
)
from airtrack.settings import load_settings  # noqa: E402

PRINTS_PER_TRACK = 16_400
DURATION_S = 180.0
ADMIN = "bench-admin-token"
WORKER = "bench-worker-token"


def _prints(seed: int) -> bytes:
    """One synthetic track's packed prints (the same seed, the same bytes)."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 1 << P.HASH_BITS, PRINTS_PER_TRACK).astype(np.uint32)
    times = np.sort(rng.integers(0, 5600, PRINTS_PER_TRACK)).astype(np.uint32)
    fines = rng.integers(0, 1 << P.FINE_BITS, PRINTS_PER_TRACK).astype(np.uint16)
    return pack_prints(Prints(hashes, times, DURATION_S, fines))


def _sha(kind: str, i: int) -> str:
    return hashlib.sha256(f"bench-ingest-live:{kind}:{i}".encode()).hexdigest()


# -- the database -----------------------------------------------------------------------------
def _migrate(url: str, home: Path) -> None:
    async def run() -> None:
        settings = load_settings(home=home, database_url=url)
        await (await connect(settings, min_size=0, max_size=2)).close()

    asyncio.run(run())


def _seed(url: str, n: int) -> int:
    """``n`` tracks with prints, ids 1..n, then one revision bump; returns the prints' bytes."""
    total = 0
    with (
        psycopg.connect(url) as conn,
        concurrent.futures.ProcessPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool,
    ):
        with conn.cursor() as cur:
            with cur.copy(
                "COPY tracks (id, title, artist, source, duration_s, content_sha256, "
                "archive_searched_at) FROM STDIN"
            ) as cp:
                now = datetime.now().astimezone()
                for i in range(1, n + 1):
                    cp.write_row(
                        (
                            i,
                            f"base {i}",
                            "bench",
                            f"bench/base/{i}.mp3",
                            DURATION_S,
                            _sha("base", i),
                            now,
                        )
                    )
            with cur.copy(
                "COPY track_prints (track_id, engine, prints) FROM STDIN (FORMAT BINARY)"
            ) as cp:
                cp.set_types(["int8", "text", "bytea"])
                for i, blob in enumerate(pool.map(_prints, range(1, n + 1), chunksize=64), 1):
                    cp.write_row((i, ENGINE, blob))
                    total += len(blob)
                    if i % 2000 == 0:
                        print(f"  seeded {i:,} / {n:,}", flush=True)
            cur.execute("SELECT setval(pg_get_serial_sequence('tracks', 'id'), %s)", (n,))
            # as catalog_bump_revision does (airtrack/db/queries_catalog.sql)
            cur.execute("SELECT airtrack_catalog_bump() AS revision")
        conn.commit()
    return total


def _postmaster_pid(home: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((home / "pg" / "postmaster.pid").read_text().splitlines()[0])
    return None


def _stop_pid(pid: int, sig: int, timeout: float) -> None:
    """Signal ``pid``, wait for it to go, SIGKILL after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# -- the orchestrator -------------------------------------------------------------------------
def _start_orchestrator(url: str, home: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env |= {
        "AIRTRACK_DATABASE_URL": url,
        "AIRTRACK_HOME": str(home),
        "AIRTRACK_ADMIN_TOKEN": ADMIN,
        "AIRTRACK_WORKER_TOKEN": WORKER,
        "AIRTRACK_LOG_JSON": "true",
    }
    with log.open("wb") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "airtrack", "orchestrator", "--port", "0"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=functools.partial(die_with_parent, signal.SIGKILL),
        )


def _log_events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        with contextlib.suppress(ValueError):
            ev = json.loads(line)
            if "timestamp" in ev:
                ev["t"] = datetime.fromisoformat(ev["timestamp"].replace("Z", "+00:00")).timestamp()
            out.append(ev)
    return out


def _wait_port(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in _log_events(log):
            if ev.get("event") == "orchestrator.listening":
                return int(ev["port"])
        if proc.poll() is not None:
            raise SystemExit(f"orchestrator died: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    raise SystemExit("orchestrator did not listen")


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop = threading.Event()
        self.hwm_kb = 0
        self.rss_max_kb = 0
        self.now_kb: dict[str, int] = {}  # the last sample: VmRSS, RssAnon, RssFile

    def sample(self) -> None:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.hwm_kb = max(self.hwm_kb, int(line.split()[1]))
                elif line.startswith("VmRSS:"):
                    self.rss_max_kb = max(self.rss_max_kb, int(line.split()[1]))
                if line.startswith(("VmRSS:", "RssAnon:", "RssFile:")):
                    self.now_kb[line.split(":")[0]] = int(line.split()[1])

    def now(self) -> str:
        self.sample()
        return ", ".join(f"{k} {v / 1e6:.1f} GB" for k, v in self.now_kb.items())

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.sample()


# -- the follower (what a worker does) --------------------------------------------------------
@dataclass
class Change:
    t: float
    version: str
    seq: int
    segments: list[tuple[str, str, int]]  # (kind, name, tracks)
    removed: int
    new_bytes: int
    download_s: float
    served: int
    uploaded: int


@dataclass
class Follower:
    url: str
    folder: Path
    poll_s: float
    uploaded: Any  # callable -> int, for the timeline
    held: dict[str, set[int]] = field(default_factory=dict)
    served: set[int] = field(default_factory=set)
    first_served: dict[int, float] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    bytes_total: int = 0
    version: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {WORKER}"}, timeout=120
        )
        self.lock = threading.Lock()

    def _download(self, name: str) -> tuple[set[int], int]:
        path = self.folder / name
        digest = hashlib.sha256()
        size = 0
        with self.client.stream("GET", SEGMENT_PATH.format(name=name)) as resp:
            resp.raise_for_status()
            want = resp.headers.get(SNAPSHOT_SHA256_HEADER)
            with path.open("wb") as fh:
                for chunk in resp.iter_bytes(1 << 20):
                    fh.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        try:
            if want and digest.hexdigest() != want:
                raise RuntimeError(f"segment {name}: sha256 mismatch")
            if name.startswith("base-"):
                index = Index.load(path)
                ids = {int(t) for t in np.asarray(index.track_ids)}
                del index
            else:
                ids = {t for t, _ in read_pack(path.read_bytes())}
        finally:
            path.unlink(missing_ok=True)  # the ids are all this follower keeps
        return ids, size

    def poll_once(self) -> bool:
        """One manifest request; True if a new version was taken."""
        headers = {"If-None-Match": f'"{self.version}"'} if self.version else {}
        t = time.time()
        resp = self.client.get(MANIFEST_PATH, headers=headers)
        if resp.status_code in (304, 404):
            return False
        resp.raise_for_status()
        body = resp.json()
        if body["version"] == self.version:
            return False
        t0 = time.perf_counter()
        new_bytes = 0
        held: dict[str, set[int]] = {}
        for seg in body["segments"]:
            name = seg["name"]
            if name in self.held:
                held[name] = self.held[name]
            else:
                held[name], size = self._download(name)
                new_bytes += size
        removed = {int(r) for r in body["removed"]}
        served = set().union(*held.values()) - removed if held else set()
        with self.lock:
            for tid in served - self.served:
                self.first_served.setdefault(tid, t)
            self.held, self.served, self.version = held, served, body["version"]
            self.bytes_total += new_bytes
            self.changes.append(
                Change(
                    t,
                    body["version"],
                    int(body.get("seq", 0)),
                    [
                        ("B" if s["kind"] == "index" else "D", s["name"], int(s["tracks"]))
                        for s in body["segments"]
                    ],
                    len(removed),
                    new_bytes,
                    time.perf_counter() - t0,
                    len(served),
                    self.uploaded(),
                )
            )
        return True

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                print(f"  follower: {self.error}", flush=True)
            stop.wait(self.poll_s)


# -- the plan as stored (catalog_manifest) ----------------------------------------------------
@dataclass
class PlanWatch:
    url: str
    poll_s: float
    first_planned: dict[int, float] = field(default_factory=dict)
    plans: list[tuple[float, int, list[tuple[str, str, int]], int]] = field(default_factory=list)
    base_planned: dict[str, float] = field(default_factory=dict)  # base name -> first seen

    def run(self, stop: threading.Event) -> None:
        seq = None
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not stop.is_set():
                t = time.time()
                row = conn.execute(
                    "SELECT (plan->>'seq')::bigint FROM catalog_manifest WHERE engine = %s",
                    (ENGINE,),
                ).fetchone()
                if row is not None and row[0] != seq:
                    got = conn.execute(
                        "SELECT plan FROM catalog_manifest WHERE engine = %s", (ENGINE,)
                    ).fetchone()
                    plan = got[0]
                    seq = int(plan["seq"])
                    manifest, ids = _target(plan)
                    removed = {int(r) for r in plan["removed"]}
                    nxt = next_name(plan)  # a base being built beside the served plan
                    if nxt is not None:
                        self.base_planned.setdefault(nxt, t)
                    for name, tids in ids.items():
                        if name.startswith("base-"):
                            self.base_planned.setdefault(name, t)
                        for tid in tids:
                            if tid not in removed:
                                self.first_planned.setdefault(int(tid), t)
                    segs = [
                        ("B" if s.kind == "index" else "D", s.name, s.tracks)
                        for s in manifest.segments
                    ]
                    self.plans.append((t, seq, segs, len(removed)))
                stop.wait(self.poll_s)


# -- the uploader -----------------------------------------------------------------------------
def _payloads(base: int, added: int) -> tuple[list[bytes], int]:
    """The upload bodies (JSON) of the added tracks, and their packed prints' bytes."""
    bodies, total = [], 0
    with concurrent.futures.ProcessPoolExecutor(max(1, min(2, os.cpu_count() or 1))) as pool:
        seeds = range(base + 1, base + added + 1)
        for i, blob in zip(seeds, pool.map(_prints, seeds, chunksize=32), strict=True):
            total += len(blob)
            body = {
                "title": f"added {i}",
                "artist": "bench",
                "source": f"bench/added/{i}.mp3",
                "duration_s": DURATION_S,
                "sha256": _sha("added", i),
                "engine": ENGINE,
                "prints": base64.b64encode(blob).decode(),
            }
            bodies.append(json.dumps(body).encode())
    return bodies, total


@dataclass
class Uploader:
    url: str
    bodies: list[bytes]
    rate: float
    done: list[tuple[float, int, str, float]] = field(default_factory=list)  # t, id, status, s
    errors: list[str] = field(default_factory=list)
    started: float = 0.0

    def count(self) -> int:
        return len(self.done)

    def run(self, stop: threading.Event) -> None:
        client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
            timeout=120,
        )
        lock = threading.Lock()

        def one(body: bytes) -> None:
            t0 = time.time()
            try:
                resp = client.post(UPLOADS_PATH, content=body)
                resp.raise_for_status()
                got = resp.json()
                with lock:
                    self.done.append(
                        (time.time(), int(got["track_id"]), got["status"], time.time() - t0)
                    )
            except Exception as exc:
                with lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}")

        self.started = time.time()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for i, body in enumerate(self.bodies):
                due = self.started + i / self.rate
                while not stop.is_set() and time.time() < due:
                    time.sleep(min(0.01, max(0.0, due - time.time())))
                if stop.is_set():
                    break
                pool.submit(one, body)
        client.close()


# -- the report -------------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _kinds(segs: list[tuple[str, str, int]]) -> str:
    out: list[str] = []
    for kind, _, n in segs:
        out.append(f"{kind}{n}")
    return "+".join(out) if out else "(empty)"


def _interrupted(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=int, default=10_000)
    ap.add_argument("--added", type=int, default=2_000)
    ap.add_argument("--rate", type=float, default=20.0, help="uploads per second")
    ap.add_argument("--timeout-s", type=float, default=1200.0)
    ap.add_argument("--poll-s", type=float, default=0.5)
    ap.add_argument(
        "--settle",
        action="store_true",
        help="once every track is served, go on until a base planned during the ingest is "
        "served (or --timeout-s)",
    )
    args = ap.parse_args()

    # SIGTERM (a timeout's kill) runs the finally below like Ctrl-C does
    signal.signal(signal.SIGTERM, _interrupted)
    home = Path(tempfile.mkdtemp(prefix="airtrack-bench-ingest-live-"))
    proc: subprocess.Popen[bytes] | None = None
    pg_pid: int | None = None
    stop = threading.Event()
    threads: list[threading.Thread] = []
    log = home / "orchestrator.log"
    keep_log = Path(tempfile.gettempdir()) / f"bench-catalog-ingest-live-{os.getpid()}.log"
    try:
        print(f"home {home}", flush=True)
        server = ensure_server(home, stop_on_exit=False)
        pg_pid = _postmaster_pid(home)
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        url = server.replace("/postgres?", "/bench?")
        _migrate(url, home)
        t0 = time.perf_counter()
        base_bytes = _seed(url, args.base)
        print(
            f"seeded {args.base:,} tracks ({base_bytes / 1e6:,.0f} MB of prints) in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        t0 = time.perf_counter()
        bodies, added_bytes = _payloads(args.base, args.added)
        print(
            f"{args.added:,} upload bodies ({added_bytes / 1e6:,.1f} MB of prints) in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )

        started = time.time()
        proc = _start_orchestrator(url, home, log)
        rss = RssSampler(proc.pid)
        rss.start()
        port = _wait_port(proc, log, 120)
        base_url = f"http://127.0.0.1:{port}"
        uploader = Uploader(base_url, bodies, args.rate)
        follower = Follower(base_url, home / "follower", args.poll_s, uploader.count)
        plans = PlanWatch(url, args.poll_s)

        # the first base: the manifest 404s until it is built
        deadline = time.monotonic() + args.timeout_s
        while len(follower.served) < args.base:
            if proc.poll() is not None:
                raise SystemExit(f"orchestrator died: {log.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise SystemExit("the first base was not served in time")
            follower.poll_once()
            time.sleep(args.poll_s)
        first_served_at = follower.changes[-1].t
        first_base_s = first_served_at - started
        built = [
            e
            for e in _log_events(log)
            if e.get("event") == "catalog.segment.built" and str(e.get("name")).startswith("base-")
        ]
        first_build_s = float(built[0]["seconds"]) if built else float("nan")
        print(
            f"first base served {first_base_s:.1f} s after the orchestrator started "
            f"(build {first_build_s:.1f} s), {follower.changes[-1].new_bytes / 1e6:,.0f} MB",
            flush=True,
        )
        rss_after_base = rss.now()
        print(f"orchestrator after its first base: {rss_after_base}", flush=True)
        initial_bytes = follower.bytes_total
        initial_segments = set(follower.held)
        initial_changes = len(follower.changes)

        # the ingest
        load_start = os.getloadavg()
        for target, name in (
            (follower.run, "follower"),
            (plans.run, "plans"),
            (uploader.run, "uploader"),
        ):
            th = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
            th.start()
            threads.append(th)
        ingest_start = time.time()
        deadline = time.monotonic() + args.timeout_s
        last_report = 0.0
        while True:
            time.sleep(0.5)
            with follower.lock:
                ids = [d[1] for d in uploader.done]
                served_n = sum(1 for i in ids if i in follower.served)
            finished = len(uploader.done) + len(uploader.errors) >= len(bodies)
            if finished and served_n == len(ids):
                new_base = any(
                    k == "B" and name not in initial_segments
                    for c in follower.changes[initial_changes:]
                    for k, name, _ in c.segments
                )
                if not args.settle or new_base:
                    break
            if time.monotonic() > deadline:
                print("timeout", flush=True)
                break
            if proc.poll() is not None:
                print("orchestrator died", flush=True)
                break
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                print(
                    f"  +{time.time() - ingest_start:5.0f} s uploaded {len(ids):,} "
                    f"served {served_n:,} manifests {len(follower.changes) - initial_changes} "
                    f"max RSS {rss.rss_max_kb / 1e6:.1f} GB",
                    flush=True,
                )
        ended = time.time()
        rss_end = rss.now()
        stop.set()
        for th in threads:
            th.join(timeout=60)
        rss.stop.set()
        load_end = os.getloadavg()

        # -- results
        events = _log_events(log)
        done = sorted(uploader.done)
        up_at = {tid: t for t, tid, _, _ in done}
        lags = [
            follower.first_served[t] - u for t, u in up_at.items() if t in follower.first_served
        ]
        to_plan = [plans.first_planned[t] - u for t, u in up_at.items() if t in plans.first_planned]
        unserved = [t for t in up_at if t not in follower.first_served]
        last_upload = done[-1][0] if done else ingest_start
        last_served = max(
            (follower.first_served[t] for t in up_at if t in follower.first_served),
            default=float("nan"),
        )
        changes = follower.changes[initial_changes:]
        max_deltas = max(
            (sum(1 for k, _, _ in c.segments if k == "D") for c in follower.changes), default=0
        )
        ingest_bytes = follower.bytes_total - initial_bytes
        # the longest the served manifest stood still while an uploaded track waited: from
        # a change (or the first upload after it) to the next change
        marks = [ingest_start] + [c.t for c in changes] + [ended]
        still = 0.0
        for a, b in itertools.pairwise(marks):
            waiting = [
                u
                for t, u in up_at.items()
                if u < b and follower.first_served.get(t, float("inf")) > a
            ]
            if waiting:
                still = max(still, b - max(a, min(waiting)))
        # bases built during the ingest (orchestrator log), planned (plan watch), served
        served_base_at: dict[str, float] = {}
        for c in changes:
            for k, name, _ in c.segments:
                if k == "B":
                    served_base_at.setdefault(name, c.t)
        bases = []
        for e in events:
            if e.get("event") == "catalog.segment.built" and str(e["name"]).startswith("base-"):
                if e["t"] < ingest_start - 1:
                    continue
                name = str(e["name"])
                planned = plans.base_planned.get(name)
                bases.append(
                    (
                        name,
                        int(e["tracks"]),
                        float(e["seconds"]),
                        e["t"],
                        planned,
                        served_base_at.get(name),
                    )
                )
        base_plans = [n for n in plans.base_planned if n not in initial_segments]
        failed = [e for e in events if e.get("event") == "catalog.compaction_failed"]
        watch_failed = [e for e in events if e.get("event") == "catalog.watch_failed"]
        achieved = (len(done) / (last_upload - uploader.started)) if len(done) > 1 else 0.0
        up_lat = [d[3] for d in done]

        def rel(t: float | None) -> str:
            return "—" if t is None else f"{t - ingest_start:+.0f}"

        base_cells = (
            "; ".join(
                f"{n:,} tr: build {s:.0f} s, planned {rel(p)} → built {rel(b)} → "
                + (
                    f"served {rel(v)} (plan→served {v - p:.0f} s)"
                    if v and p
                    else (f"served {rel(v)}" if v else "never served")
                )
                for _, n, s, b, p, v in bases
            )
            or "none"
        )

        print()
        print(f"load average at start of ingest {load_start[0]:.2f}, at end {load_end[0]:.2f}")
        print()
        print(
            "| base tracks | added (served) | rate asked / achieved (/s) | first base: served "
            "after start / build (s) | lag upload→served p50 / p95 / max (s) | lag "
            "upload→planned p50 / p95 / max (s) | manifest changes during ingest | longest "
            "standstill with tracks waiting (s) | bases planned / built during ingest | bases "
            "built (build; planned → built → served, s from ingest start) | max deltas at "
            "once | follower downloaded / added prints (MB, ratio) | orchestrator peak RSS "
            "(VmHWM, GB) | last upload → last served (s) |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        print(
            f"| {args.base:,} | {args.added:,} ({len(lags):,}) | {args.rate:g} / {achieved:.1f} "
            f"| {first_base_s:.0f} / {first_build_s:.0f} "
            f"| {_pct(lags, 50):.1f} / {_pct(lags, 95):.1f} / "
            f"{max(lags, default=float('nan')):.1f} "
            f"| {_pct(to_plan, 50):.1f} / {_pct(to_plan, 95):.1f} / "
            f"{max(to_plan, default=float('nan')):.1f} "
            f"| {len(changes)} | {still:.0f} | {len(base_plans)} / {len(bases)} | {base_cells} "
            f"| {max_deltas} | {ingest_bytes / 1e6:,.0f} / {added_bytes / 1e6:,.0f} "
            f"({ingest_bytes / max(1, added_bytes):.2f}) | {rss.hwm_kb / 1e6:.1f} "
            f"| {last_served - last_upload:.1f} |"
        )
        print()
        print(
            f"uploads: {len(done):,} ok, {len(uploader.errors)} failed; reply p50 "
            f"{_pct(up_lat, 50) * 1e3:.0f} ms, p95 {_pct(up_lat, 95) * 1e3:.0f} ms, max "
            f"{max(up_lat, default=0) * 1e3:.0f} ms; ingest {last_upload - uploader.started:.0f} s"
        )
        print(f"orchestrator memory after its first base: {rss_after_base}; at the end: {rss_end}")
        if uploader.errors:
            print(f"  first upload error: {uploader.errors[0]}")
        if unserved:
            print(f"NOT SERVED at the end: {len(unserved):,} uploaded tracks")
        if follower.error:
            print(f"follower's last error: {follower.error}")
        for e in failed + watch_failed:
            print(f"orchestrator: {e.get('event')} {e.get('error')}")
        print()
        print("Served manifests (t = s from ingest start; B = base, D = delta, tracks each):")
        print()
        for c in changes:
            print(
                f"- {c.t - ingest_start:+7.1f} seq {c.seq:>3} {_kinds(c.segments)}"
                f"{f' removed {c.removed}' if c.removed else ''}; new "
                f"{c.new_bytes / 1e6:,.1f} MB in {c.download_s:.1f} s; serves {c.served:,}; "
                f"uploaded {c.uploaded:,}"
            )
        print()
        print("Plans (catalog_manifest, as read; t = s from ingest start):")
        print()
        for t, seq, segs, removed in plans.plans:
            if t < ingest_start - 1:
                continue
            print(
                f"- {t - ingest_start:+7.1f} seq {seq:>3} {_kinds(segs)}"
                f"{f' removed {removed}' if removed else ''}"
            )
        print()
        print("Segments built (orchestrator log; t = s from ingest start):")
        print()
        for e in events:
            if e.get("event") == "catalog.segment.built" and e["t"] >= ingest_start - 1:
                print(
                    f"- {e['t'] - ingest_start:+7.1f} {str(e['name'])[:10]} {e['tracks']} tracks "
                    f"{int(e['bytes']) / 1e6:,.1f} MB in {e['seconds']} s"
                )
    finally:
        stop.set()
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            with contextlib.suppress(OSError):
                shutil.copyfile(log, keep_log)
                print(f"orchestrator log kept in {keep_log}")
        if pg_pid is not None:
            _stop_pid(pg_pid, signal.SIGINT, 60)  # fast shutdown
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
