"""Catalog scale benchmark: the recognition benchmark with 10k-100k tracks.

    .venv/bin/python bench/bench_catalog_scale.py [--sizes 10000 30000 100000]

Every catalog holds the recognition benchmark's real songs and short items; the rest are
distractors made from real music's peaks (``bench/_distractors.py``).  Per size, one run
measures: build time, snapshot size, worker start, lookup cost per second of query, CPU per
stream-second, RSS of one and of four workers (private vs shared, /proc/PID/smaps_rollup)
and recognition on the five stations with every distractor present.  Big files go to
bench/out (ignored by git).  Writes bench/RESULTS-catalog-scale.md.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airtrack.errors import AudioError
from airtrack.fingerprint import Index, decode, fingerprint_file, scan_file
from airtrack.fingerprint import params as P
from airtrack.fingerprint.evidence import (
    _MAX_POSTINGS,
    fines_all_speeds,
    hash_all_speeds,
    probe_fines,
)
from airtrack.fingerprint.landmarks import LandmarkExtractor, Prints
from bench import _audio as A
from bench import _distractors as D
from bench import stations as S
from bench._scale_index import RawPostings, write_index
from bench._scale_report import report
from bench._scale_survival import fine_survival

# a second run beside a long one gets its own folder (its rows are merged by --report-only)
OUT = Path(os.environ.get("SCALE_OUT", Path(__file__).resolve().parent / "out" / "catalog-scale"))
RESULTS = (
    (OUT / "RESULTS.md")
    if "SCALE_OUT" in os.environ
    else (Path(__file__).resolve().parent / "RESULTS-catalog-scale.md")
)


#: Songs the stations also air transformed as *other* items: a cover 300 cents up (jungle),
#: reversed songs (palace, desert), ads transposed from the held-out tracks.  A distractor
#: made from them by the same kind of transformation would be that item (a first run made
#: them sources: 18 "false plays" at 300 tracks, all on the jungle cover and the reversals).
EXCLUDED = ("hr3-jungle", "hr-savino-palace", "hr3-desert", *S.HELD_OUT)


def sources() -> list[D.Peaks]:
    """Peaks of the real tracks at hand: the benchmark's songs and the Debian packages."""
    paths = {s.name: s.path for s in S.catalog_songs() + S.other_songs()}
    for folder in A.MUSIC.values():
        for f in sorted(folder.glob("*.ogg")):
            paths.setdefault(f.stem, str(f))
    out = []
    for name, path in paths.items():
        if name.startswith(EXCLUDED) or name.startswith("ad"):
            continue
        try:
            pk = D.source_peaks(name, path)
        except AudioError:
            continue  # three hyperrogue files are corrupt; sound effects are too short
        if pk.frames > 30 * P.FRAMES_PER_S:
            out.append(pk)
    return out


# -- the worker child -------------------------------------------------------------------------
def _smaps() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        key, val = line.split(":")
        out[key.strip()] = int(val.split()[0])
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            out["VmHWM"] = int(line.split()[1])
    return out


def lookup_cost(index: Index, samples: np.ndarray) -> dict[str, float]:
    """Lookup of real query audio (60 s of station A at 7 speeds), per second of query."""
    ex = LandmarkExtractor()
    pairs = ex.feed(samples[: 60 * P.SAMPLE_RATE])
    speeds = np.asarray(P.SPEEDS)
    hashes = hash_all_speeds(pairs, speeds, np.log(speeds)[:, None]).T.reshape(-1)
    fines = fines_all_speeds(pairs, speeds).T.reshape(-1)  # each pair's own sibling key
    probes = probe_fines(pairs, speeds).transpose(1, 0, 2).reshape(hashes.shape[0], -1)
    out: dict[str, float] = {"query_hashes_per_s": hashes.shape[0] / 60}
    # one second of query per call: a 60-s uncapped call at 100,000 tracks allocates ~15 GB
    per_s = hashes.shape[0] // 60
    # capped = the engine's lookup (its fine-key probes in big buckets, cap 32); own = with
    # each pair's own sibling key only; v1cap = engine v1's (no fine key, cap 32); all =
    # every posting of the 20-bit hashes (no cap)
    for label, cap, fk in (("capped", _MAX_POSTINGS, probes), ("own", _MAX_POSTINGS, fines),
                           ("v1cap", _MAX_POSTINGS, None), ("all", None, None)):  # fmt: skip
        spent, got = 0.0, 0
        reps = 60 if cap else 10
        for i in range(reps):
            q1 = hashes[i * per_s : (i + 1) * per_s]
            f1 = None if fk is None else fk[i * per_s : (i + 1) * per_s]
            index.lookup(q1, cap, f1)  # warm the pages
            t0 = time.process_time()
            q, _, _ = index.lookup(q1, cap, f1)
            spent += time.process_time() - t0
            got += q.shape[0]
        out[f"us_{label}"] = spent / reps * 1e6
        out[f"postings_{label}"] = got / reps
    lo = index.starts[hashes].astype(np.int64)
    hi = index.starts[hashes + 1].astype(np.int64)
    cnt = hi - lo
    big = np.flatnonzero(cnt > _MAX_POSTINGS)
    out["big_frac"] = float(big.size / max(1, cnt.size))
    if big.size:  # the fine sub-range each big bucket narrows to (what the engine reads)
        want = fines[big].astype(np.int64)
        a = index._first_at_least(lo[big], hi[big], want)
        b = index._first_at_least(a, hi[big], want + 1)
        sub = b - a
        out["fine_postings_median"] = float(np.median(sub))
        out["fine_postings_p90"] = float(np.percentile(sub, 90))
        cnt_eff = cnt.copy()
        cnt_eff[big] = sub
    else:
        out["fine_postings_median"] = out["fine_postings_p90"] = 0.0
        cnt_eff = cnt
    out["skipped_frac"] = float(np.mean(cnt_eff > _MAX_POSTINGS))
    out["skipped_frac_v1"] = float(np.mean(cnt > _MAX_POSTINGS))
    for cap in (128, 512, 2048):  # what a higher cap would keep, and read
        out[f"skipped_frac_{cap}"] = float(np.mean(cnt > cap))
        out[f"postings_{cap}"] = float(cnt[cnt <= cap].sum()) / 60
    out["postings_per_query_hash_median"] = float(np.median(cnt))
    out["empty_frac"] = float(np.mean(cnt == 0))
    return out


def worker(args: argparse.Namespace) -> None:
    """One worker process: load, (score the stations), feed station A live, report."""
    from bench import bench_recognition as R

    res: dict[str, Any] = {}
    t0 = time.perf_counter()
    index = Index.load(args.worker)
    index.lookup(np.arange(0, 1 << P.HASH_BITS, 4099, dtype=np.uint32))
    res["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # the engine builds it in passes now; "native"/"chunked" only label older runs' rows
    index.build_density()
    res["density_s"] = time.perf_counter() - t0
    res["after_start"] = _smaps()
    names = json.loads(Path(args.names).read_text())
    names = {int(k): v for k, v in names.items()}
    specs = [s for s in S.STATIONS if not args.stations or s.name in args.stations]
    if args.score:
        scores = {}
        c0 = time.process_time()
        for spec in specs:
            mp3, truth = S.build_station(spec)
            sc, short = R.run_station(sys.modules["airtrack.fingerprint"], mp3, truth, index, names)
            scores[spec.name] = [_score(sc), _score(short)]
        res["score_cpu_s"] = time.process_time() - c0
        res["scores"] = scores
    mp3, _ = S.build_station(S.STATIONS[0])
    samples = np.concatenate(list(decode(mp3)))
    res["lookup"] = lookup_cost(index, samples)
    import airtrack.fingerprint as engine

    c0 = time.process_time()
    R._live(engine, index, samples)
    res["live_cpu_per_stream_s"] = (time.process_time() - c0) / (samples.shape[0] / P.SAMPLE_RATE)
    res["final"] = _smaps()
    print(json.dumps(res), flush=True)
    if args.hold:
        sys.stdin.readline()  # the parent reads every worker's smaps while all are alive
        snap = _smaps()
        time.sleep(2)  # stay mapped until the other three have read theirs
        print(json.dumps(snap), flush=True)


def _score(s: Any) -> dict[str, Any]:
    return {k: getattr(s, k) for k in ("catalog_plays", "found", "rows", "false", "start_err",
                                       "end_err", "missed", "audio_s")}  # fmt: skip


def spawn(index: Path, names: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, "--worker", str(index), "--names", str(names), *extra]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def measure_size(raw: RawPostings, n: int, names: Path, args: argparse.Namespace,
                 gen_s: float) -> dict[str, Any]:  # fmt: skip
    path = OUT / f"index-{n}.atix"
    t0 = time.perf_counter()
    postings = write_index(raw, n, path)
    build_s = time.perf_counter() - t0
    row: dict[str, Any] = {"tracks": n, "postings": postings, "gen_s": gen_s,
                           "build_s": build_s, "bytes": path.stat().st_size}  # fmt: skip
    if args.index_only:  # kept for bench/bench_scan_scale.py (no worker measures)
        return row
    subprocess.run(["sync"], check=False)
    density = "native" if n <= args.native_max else "chunked"
    one = spawn(path, names, "--score", "--density", density)
    out, _ = one.communicate()
    row["one"] = json.loads(out.splitlines()[0])
    row["one_density"] = density
    if args.four:
        procs, firsts = [], []
        for _ in range(4):  # started one after another: only one density build at a time
            p = spawn(path, names, "--hold", "--density", "chunked")
            assert p.stdout is not None
            firsts.append(json.loads(p.stdout.readline()))
            procs.append(p)
        for p in procs:  # every worker reads its smaps while all four are alive
            assert p.stdin is not None
            p.stdin.write("\n")
            p.stdin.flush()
        row["four"] = [json.loads(p.stdout.readline()) for p in procs if p.stdout]
        for p in procs:
            p.wait(timeout=60)
    (OUT / f"row-{n}.json").write_text(json.dumps(row))
    if args.drop_index:
        path.unlink()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10000, 30000, 100000])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--names", help=argparse.SUPPRESS)
    ap.add_argument("--score", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--density", default="native", help=argparse.SUPPRESS)
    ap.add_argument("--stations", nargs="*", help="only these stations (default: all)")
    ap.add_argument(
        "--native-max",
        type=int,
        default=10000,
        help="largest size whose single worker builds the engine's own density",
    )
    ap.add_argument("--no-four", dest="four", action="store_false")
    ap.add_argument(
        "--index-only", action="store_true", help="only write each size's index (no measures)"
    )
    ap.add_argument("--drop-index", action="store_true", help="delete each index after use")
    ap.add_argument(
        "--mem-budget-gb",
        type=float,
        default=10.0,
        help="skip sizes whose build or page cache would exceed this",
    )
    ap.add_argument("--survival-only", action="store_true",
                    help="only the fine key's survival on the five stations")  # fmt: skip
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the results from the rows saved in bench/out",
    )
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    if args.report_only:
        srcs = sources()
        real = [fingerprint_file(s.path) for s in S.catalog_songs()]
        dis = [D.distractor(i, srcs) for i in range(500)]
        stats = {"sources": [s.name for s in srcs], "real": real, "distractors": dis,
                 "distinct": distinct_check(srcs)}  # fmt: skip
        if (OUT / "survival.json").exists():
            stats["survival"] = json.loads((OUT / "survival.json").read_text())
        rows = [json.loads((OUT / f"row-{n}.json").read_text()) for n in args.sizes
                if (OUT / f"row-{n}.json").exists()]  # fmt: skip
        for r in rows:  # lookup measures taken after the row (a later, wider lookup_cost)
            caps = OUT / f"caps-{r['tracks']}.json"
            if caps.exists():
                r["one"]["lookup"].update(json.loads(caps.read_text()))
        report(RESULTS, rows, stats, args)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    songs = S.catalog_songs()
    real = [(i + 1, s.name, fingerprint_file(s.path)) for i, s in enumerate(songs)]
    survival = {} if args.index_only else fine_survival(real)
    if not args.index_only:
        (OUT / "survival.json").write_text(json.dumps(survival))
    if args.survival_only:
        return
    srcs = sources()
    print(f"{len(srcs)} sources, {len(real)} real catalog items ({time.perf_counter() - t0:.0f} s)")
    stats: dict[str, Any] = {"sources": [s.name for s in srcs], "survival": survival}
    if not args.index_only:
        stats["distinct"] = distinct_check(srcs)
    raw = RawPostings(OUT / "raw")
    names: dict[int, str] = {}
    for tid, name, prints in real:
        raw.add(tid, prints)
        names[tid] = name
    stats["real"] = [p for _, _, p in real]
    sample: list[Prints] = []
    rows: list[dict[str, Any]] = []
    gen_s = 0.0
    names_path = OUT / "names.json"
    for n in sorted(args.sizes):
        est = n * 15_000 * 8 / 1e9
        if est > args.mem_budget_gb:
            rows.append({"tracks": n, "skipped": f"index ≈ {est:.1f} GB > budget"})
            report(RESULTS, rows, stats, args)
            continue
        t0 = time.perf_counter()
        while len(raw.ids) < n:
            number = len(raw.ids) - len(real)
            d = D.distractor(number, srcs)
            tid = 100_000_000 + number
            raw.add(tid, d)
            names[tid] = f"distractor-{number}"
            if len(sample) < 500:
                sample.append(d)
        gen_s += time.perf_counter() - t0
        stats["distractors"] = sample
        names_path.write_text(json.dumps(names))
        print(f"{n}: generated ({gen_s:.0f} s), building", flush=True)
        rows.append(measure_size(raw, n, names_path, args, gen_s))
        print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("one", "four")}))
        if not args.index_only:
            report(RESULTS, rows, stats, args)


def distinct_check(srcs: list[D.Peaks]) -> dict[str, Any]:
    """Scan every source track against an index of 400 distractors: a play = a distractor
    that matches real music it was made from."""
    items = [(100_000_000 + i, D.distractor(i, srcs)) for i in range(400)]
    index = Index.from_arrays([i for i, _ in items], [p.duration_s for _, p in items],
                              [p.hashes for _, p in items], [p.times for _, p in items],
                              [len(p) for _, p in items], [p.fines for _, p in items])  # fmt: skip
    paths = {s.name: s.path for s in S.catalog_songs() + S.other_songs()}
    for folder in A.MUSIC.values():
        for f in sorted(folder.glob("*.ogg")):
            paths.setdefault(f.stem, str(f))
    plays, audio = [], 0.0
    for name, path in paths.items():
        if name not in {s.name for s in srcs}:
            continue
        try:
            found = scan_file(path, index)
        except AudioError:
            continue
        audio += S.ffprobe_duration(Path(path))
        plays += [f"{name} -> distractor-{p.track_id - 100_000_000} c={p.confidence:.2f}"
                  for p in found]  # fmt: skip
    low = []
    for _name, path in list(paths.items())[:8]:
        low += [p.confidence for p in scan_file(path, index, threshold=0.05)]  # real songs
    return {"distractors": 400, "source_audio_s": audio, "plays": plays,
            "max_conf_at_0.05": max(low, default=0.0)}  # fmt: skip


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
