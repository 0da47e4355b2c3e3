"""Recognition benchmark: real music, radio-like stations, one table.

    .venv/bin/python bench/bench_recognition.py [--quick]

Prints the tables and writes them to bench/RESULTS-recognition.md.  Not a test: run by hand.
Accuracy is scored for the current engine and, with ``--ref``, for the engine of that git
ref on the same stations with the same scoring (ends against the audible end, defined in
``bench/stations.py``).
"""

from __future__ import annotations

import argparse
import importlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import av

from airtrack.fingerprint import (
    SAMPLE_RATE,
    Index,
    decode,
    fingerprint_file,
    pack_prints,
    scan_file,
)
from bench import _audio as A
from bench import stations as S

RESULTS = Path(__file__).resolve().parent / "RESULTS-recognition.md"
REPO = Path(__file__).resolve().parent.parent
#: The engine measured beside the current one ("before"): a commit given with --ref.
REF_DEFAULT = "23e76e9"
#: Heading from which RESULTS keeps the hand-run one-core tables when this script rewrites it
ONE_CORE = "## One core"


@dataclass
class Score:
    catalog_plays: int = 0
    found: int = 0
    rows: int = 0
    false: list[str] = field(default_factory=list)
    start_err: list[float] = field(default_factory=list)
    end_err: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    off: list[str] = field(default_factory=list)  # boundaries more than 1.5 s off
    audio_s: float = 0.0
    scan_s: float = 0.0
    decode_s: float = 0.0
    decode_rs_s: float = 0.0
    ref_scan_s: float = 0.0  # reference ("before") engine, same file, same run
    # CPU seconds (every thread of the process): the scan decodes in a thread beside the
    # matcher, so its wall-clock time hides work that the CPU time shows
    scan_cpu: float = 0.0
    ref_scan_cpu: float = 0.0
    decode_cpu: float = 0.0
    live_ms: float = 0.0  # StreamingMatcher.feed per 4-s block (samples in memory)
    ref_live_ms: float = 0.0
    true_conf: list[float] = field(default_factory=list)
    cand_false_conf: list[float] = field(default_factory=list)  # at threshold 0.2


def ingest(songs: list[S.Song]) -> tuple[Index, dict[int, str], float]:
    t0 = time.perf_counter()
    items = [(i + 1, pack_prints(fingerprint_file(s.path))) for i, s in enumerate(songs)]
    index = Index.build(items)
    return index, {i + 1: s.name for i, s in enumerate(songs)}, time.perf_counter() - t0


def run_station(
    engine: ModuleType, mp3: Path, truth: list[S.Airing], index: Any, names: dict[int, str]
) -> tuple[Score, Score]:
    """Score ``engine``'s live path on one station: (songs, short items).

    Each play is assigned to the airing of its track it overlaps most (one airing per play):
    an airing with no play is missed, a play with no airing is false, and two airings merged
    into one play count one found and one missed.  Start error is against the airing's
    start, end error against its audible end (``stations`` module doc), both of the play
    whose start is nearest.
    """
    sc, short = Score(), Score()
    matcher = engine.StreamingMatcher(index)
    events: list[Any] = []
    first_seen: dict[tuple[int, float], float] = {}
    for block in decode(mp3, block_s=1.0):
        for ev in matcher.feed(block):
            events.append(ev)
            if isinstance(ev, engine.PlayStarted):
                first_seen[(ev.track_id, round(ev.start_s, 3))] = matcher.seconds_fed
    events.extend(matcher.close())
    plays = engine.plays_from_events(events)
    items = [a for a in truth if a.catalog and a.kind in ("song", "ad")]
    owner: dict[int, list[Any]] = {}
    for p in plays:
        overlaps = [
            (min(p.end_s, a.end) - max(p.start_s, a.start), i) for i, a in enumerate(items)
            if names[p.track_id] == a.name and p.start_s < a.end and p.end_s > a.start
        ]  # fmt: skip
        if overlaps:
            owner.setdefault(max(overlaps)[1], []).append(p)
        else:
            sc.false.append(f"{names[p.track_id]}@{p.start_s:.0f}s c={p.confidence:.2f}")
    for i, a in enumerate(items):
        into = short if a.kind == "ad" else sc
        into.catalog_plays += 1
        hits = owner.get(i, [])
        if not hits:
            into.missed.append(f"{a.name}@{a.start:.0f}s")
            continue
        into.found += 1
        into.rows += len(hits)
        p = min(hits, key=lambda q: abs(q.start_s - a.start))
        into.true_conf.append(p.confidence)
        into.start_err.append(abs(p.start_s - a.start))
        into.end_err.append(abs(p.end_s - a.audible_end))
        if abs(p.start_s - a.start) > 1.5 or abs(p.end_s - a.audible_end) > 1.5:
            into.off.append(
                f"{a.name}@{a.start:.0f}-{a.audible_end:.0f}s: {p.start_s:.0f}-{p.end_s:.0f}s"
                f" x{len(hits)}"
            )
        seen = first_seen.get((p.track_id, round(p.start_s, 3)))
        if seen is not None:
            into.latency.append(seen - a.start)
    sc.audio_s = S.ffprobe_duration(mp3)
    return sc, short


def confidence_margin(sc: Score, mp3: Path, truth: list[S.Airing], index: Index,
                      names: dict[int, str]) -> None:  # fmt: skip
    """What chance alignments reach when the threshold is lowered to 0.2 (current engine)."""
    songs = [a for a in truth if a.kind in ("song", "ad")]
    for p in scan_file(mp3, index, threshold=0.2):
        if not any(
            a.catalog and a.name == names[p.track_id] and p.start_s < a.end and p.end_s > a.start
            for a in songs
        ):
            sc.cand_false_conf.append(p.confidence)


def _timed(fn: Any, *args: Any, cpu: list[float] | None = None) -> float:
    """Wall-clock seconds of ``fn(*args)``; its CPU seconds appended to ``cpu``."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    if cpu is not None:
        cpu.append(time.process_time() - c0)
    return time.perf_counter() - t0


def _pyav_decode(mp3: Path) -> None:
    with av.open(str(mp3)) as c:
        for _ in c.decode(c.streams.audio[0]):
            pass


def _drain(mp3: Path) -> None:
    for _ in decode(mp3):
        pass


def _live(engine: ModuleType, index: Any, samples: np.ndarray) -> float:
    """Seconds spent in ``StreamingMatcher.feed``/``close`` over 4-s blocks of ``samples``."""
    m = engine.StreamingMatcher(index)
    step = 4 * SAMPLE_RATE
    t0 = time.perf_counter()
    for i in range(0, samples.shape[0], step):
        m.feed(samples[i : i + step])
    m.close()
    return time.perf_counter() - t0


def measure_speed(
    sc: Score, mp3: Path, index: Index, ref: tuple[ModuleType, Any] | None, reps: int
) -> None:
    """Medians of ``reps`` interleaved runs: scan_file (current and reference engine), PyAV
    decode alone, decode+resample, and the live path's feed cost per 4-s block."""
    import airtrack.fingerprint as cur

    keys = ("scan", "ref", "dec", "rs", "live", "rlive", "scan_cpu", "ref_cpu", "dec_cpu")
    runs: dict[str, list[float]] = {k: [] for k in keys}
    samples = np.concatenate(list(decode(mp3)))
    n_blocks = -(-samples.shape[0] // (4 * SAMPLE_RATE))
    for _ in range(reps):
        runs["dec"].append(_timed(_pyav_decode, mp3, cpu=runs["dec_cpu"]))
        runs["scan"].append(_timed(scan_file, mp3, index, cpu=runs["scan_cpu"]))
        if ref is not None:
            runs["ref"].append(_timed(ref[0].scan_file, mp3, ref[1], cpu=runs["ref_cpu"]))
        runs["rs"].append(_timed(_drain, mp3))
        runs["live"].append(_live(cur, index, samples) / n_blocks * 1e3)
        if ref is not None:
            runs["rlive"].append(_live(ref[0], ref[1], samples) / n_blocks * 1e3)
    med = {k: statistics.median(v) if v else float("nan") for k, v in runs.items()}
    sc.scan_s, sc.ref_scan_s, sc.decode_s = med["scan"], med["ref"], med["dec"]
    sc.decode_rs_s, sc.live_ms, sc.ref_live_ms = med["rs"], med["live"], med["rlive"]
    sc.scan_cpu, sc.ref_scan_cpu, sc.decode_cpu = med["scan_cpu"], med["ref_cpu"], med["dec_cpu"]


def load_reference_engine(ref: str, songs: list[S.Song]) -> tuple[ModuleType, Any]:
    """``airtrack.fingerprint`` as of git ``ref`` (imported beside the current one) and its
    index of ``songs``.  Its modules keep their own globals once swapped out of sys.modules."""
    tmp = Path(tempfile.mkdtemp(prefix="airtrack-ref-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "airtrack"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    mine = {k: v for k, v in sys.modules.items() if k == "airtrack" or k.startswith("airtrack.")}
    for k in mine:
        del sys.modules[k]
    sys.path.insert(0, str(tmp))
    try:
        engine = importlib.import_module("airtrack.fingerprint")
    finally:
        sys.path.remove(str(tmp))
        for k in [k for k in sys.modules if k == "airtrack" or k.startswith("airtrack.")]:
            del sys.modules[k]
        sys.modules.update(mine)
    assert Path(engine.__file__ or "").is_relative_to(tmp)
    items = [
        (i + 1, engine.pack_prints(engine.fingerprint_file(s.path))) for i, s in enumerate(songs)
    ]
    return engine, engine.Index.build(items)


def _ingest_rss_child(paths: list[str]) -> None:
    t0 = time.perf_counter()
    items = [(i + 1, pack_prints(fingerprint_file(p))) for i, p in enumerate(paths)]
    Index.build(items)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{dt:.3f} {rss:.1f}")


def ingest_100(songs: list[S.Song]) -> tuple[float, float, float]:
    """Fingerprint 100 files in a fresh process: (seconds, audio seconds, peak RSS MB)."""
    paths = [songs[i % len(songs)].path for i in range(100)]
    audio = sum(S.ffprobe_duration(Path(p)) for p in paths)
    # /usr/bin/time measures a process forked from a small parent (Linux children inherit
    # the parent's ru_maxrss at fork, so asking getrusage in the child over-reports).
    out = subprocess.run(
        ["/usr/bin/time", "-f", "RSS %M", sys.executable, __file__, "--ingest-child", *paths],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    dt = float(out.stdout.split()[0])
    rss_kb = float(out.stderr.strip().splitlines()[-1].split()[1])
    return dt, audio, rss_kb / 1024


def index_scaling(sizes: tuple[int, ...]) -> list[tuple[int, int, float, float]]:
    """Synthetic prints (80 hashes/s, 3-min tracks): lookup cost of one second of query."""
    rng = np.random.default_rng(5)
    per_track = 80 * 180
    rows = []
    for n in sizes:
        hashes = [rng.integers(0, 1 << 20, per_track, dtype=np.uint32) for _ in range(n)]
        times = [np.sort(rng.integers(0, 180 * 31, per_track)).astype(np.uint32) for _ in range(n)]
        index = Index.from_arrays(list(range(n)), [180.0] * n, hashes, times, [per_track] * n)
        query = rng.integers(0, 1 << 20, 80 * 7, dtype=np.uint32)  # 1 s of audio, 7 speeds
        reps = 20
        t0 = time.perf_counter()
        for _ in range(reps):
            q, _, _ = index.lookup(query)
        us = (time.perf_counter() - t0) / reps * 1e6
        rows.append((n, index.n_hashes, us, q.shape[0] / 1.0))
        del index, hashes, times
    return rows


def _pair(xs: list[float]) -> str:
    if not xs:
        return "- / -"
    return f"{statistics.median(xs):.2f} / {max(xs):.2f}"


def accuracy_table(scores: dict[str, tuple[Score, Score]]) -> list[str]:
    """Songs per station and their total, then the short items (ads, IDs) and theirs."""
    lines = [
        "| station | found / catalog plays | false plays | rows/play | start err median / max (s)"
        " | end err median / max (s) | detection latency median / max (s) |",
        "|" + "---|" * 7,
    ]
    for which in (0, 1):
        tot = Score()
        rows = [(n, pair[which]) for n, pair in scores.items() if pair[which].catalog_plays]
        for name, s in [*rows, ("TOTAL" if which == 0 else "TOTAL short items", tot)]:
            if s is not tot:
                tot.catalog_plays += s.catalog_plays
                tot.found += s.found
                tot.rows += s.rows
                tot.false += s.false
                tot.start_err += s.start_err
                tot.end_err += s.end_err
                tot.latency += s.latency
            label = name if which == 0 or s is tot else f"{name} short items"
            pct = 100 * s.found / max(1, s.catalog_plays)
            false = len(s.false) if which == 0 else "-"
            lines.append(
                f"| {label} | {s.found}/{s.catalog_plays} ({pct:.1f} %) | {false} |"
                f" {s.rows / max(1, s.found):.2f} | {_pair(s.start_err)} | {_pair(s.end_err)} |"
                f" {_pair(s.latency).replace('.00', '.0')} |"
            )
    return lines


def speed_table(scores: dict[str, Score], ref: str | None) -> list[str]:
    speed = [
        "| station | PyAV decode x-rt | decode+resample x-rt | scan x-rt | scan/decode"
        f" | before ({ref}) scan x-rt | before scan/decode | live feed ms / 4-s block (before)"
        " | streams/core, matcher only (before) | CPU s per audio hour: decode, scan (before) |",
        "|" + "---|" * 10,
    ]
    tot = Score()
    for name, s in [*scores.items(), ("TOTAL", tot)]:
        if name != "TOTAL":
            tot.audio_s += s.audio_s
            tot.scan_s += s.scan_s
            tot.ref_scan_s += s.ref_scan_s
            tot.decode_s += s.decode_s
            tot.decode_rs_s += s.decode_rs_s
            tot.scan_cpu += s.scan_cpu
            tot.ref_scan_cpu += s.ref_scan_cpu
            tot.decode_cpu += s.decode_cpu
            tot.live_ms += s.live_ms * s.audio_s
            tot.ref_live_ms += s.ref_live_ms * s.audio_s
        else:
            tot.live_ms /= max(1e-9, tot.audio_s)
            tot.ref_live_ms /= max(1e-9, tot.audio_s)
        hour = 3600 / s.audio_s
        ref_x = s.audio_s / s.ref_scan_s if s.ref_scan_s else float("nan")
        ref_pct = 100 * s.decode_s / s.ref_scan_s if s.ref_scan_s else float("nan")
        speed.append(
            f"| {name} | {s.audio_s / s.decode_s:.0f} | {s.audio_s / s.decode_rs_s:.0f} |"
            f" {s.audio_s / s.scan_s:.0f} | **{100 * s.decode_s / s.scan_s:.0f} %** |"
            f" {ref_x:.0f} | {ref_pct:.0f} % | {s.live_ms:.1f} ({s.ref_live_ms:.1f}) |"
            f" {4000 / s.live_ms:.0f} ({4000 / s.ref_live_ms:.0f}) |"
            f" {hour * s.decode_cpu:.1f}, {hour * s.scan_cpu:.1f}"
            f" ({hour * s.ref_scan_cpu:.1f}) |"
        )
    return speed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="5-minute stations (development)")
    ap.add_argument("--ingest-child", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--skip-ingest", action="store_true", help="skip the 100-file ingest run")
    ap.add_argument("--reps", type=int, default=3, help="interleaved speed runs (0 = none)")
    ap.add_argument("--stations", nargs="*", help="only these stations (default: all)")
    ap.add_argument("--ref", default=REF_DEFAULT, help="git ref of the 'before' engine ('' = none)")
    args = ap.parse_args()
    if args.ingest_child:
        _ingest_rss_child(args.ingest_child)
        return
    A.ensure_tools()
    songs = S.catalog_songs()
    print(
        f"catalog: {len(songs)} songs from fb-music-high + hyperrogue-music; fewer than 20 real"
        f" tracks exist, so {sum(S.SPLIT.values())} catalog songs are distinct segments of"
        f" {len(S.SPLIT)} long track(s) and {len(S.TRANSPOSED)} are real tracks transposed a"
        f" fifth up (sox pitch 700). Non-catalog: {len(S.HELD_OUT)} held-out tracks,"
        " 2 reversed songs, 1 pitch-shifted cover, jingles, DJ speech (espeak-ng)."
    )
    index, names, ingest_s = ingest(songs)
    audio_cat = sum(S.ffprobe_duration(Path(s.path)) for s in songs)
    print(f"ingest {len(songs)} songs ({audio_cat:.0f} s audio): {ingest_s:.2f} s; "
          f"index {index.n_hashes} hashes")  # fmt: skip
    ref = load_reference_engine(args.ref, songs) if args.ref else None
    import airtrack.fingerprint as current

    scores: dict[str, tuple[Score, Score]] = {}
    before: dict[str, tuple[Score, Score]] = {}
    for spec in S.STATIONS:
        if args.stations and spec.name not in args.stations:
            continue
        t0 = time.perf_counter()
        mp3, truth = S.build_station(spec, quick=args.quick)
        built = time.perf_counter() - t0
        sc, short = run_station(current, mp3, truth, index, names)
        confidence_margin(sc, mp3, truth, index, names)
        if ref is not None:
            before[spec.name] = run_station(ref[0], mp3, truth, ref[1], names)
        if args.reps:
            measure_speed(sc, mp3, index, ref, args.reps)
        scores[spec.name] = (sc, short)
        print(f"{spec.name}: built in {built:.0f} s, {sc.audio_s / 60:.1f} min, "
              f"{spec.bitrate_k} kbps, SNR {spec.snr_db} dB; missed {sc.missed + short.missed};"
              f" false {sc.false}; boundaries > 1.5 s off {sc.off + short.off}",
              flush=True)  # fmt: skip
    lines = ["Current engine:", "", *accuracy_table(scores)]
    if ref is not None:
        lines += ["", f"Before ({args.ref}), same stations, same scoring:", ""]
        lines += accuracy_table(before)
    if args.reps:
        lines += ["", *speed_table({k: v[0] for k, v in scores.items()}, args.ref or None)]
    tc = sorted(c for s, _ in scores.values() for c in s.true_conf)
    fc = sorted((c for s, _ in scores.values() for c in s.cand_false_conf), reverse=True)
    lines += [
        "",
        f"Confidence margin (threshold 0.5): true plays min {tc[0]:.2f}, 5th pct"
        f" {tc[len(tc) // 20]:.2f}, median {statistics.median(tc):.2f}; wrong/non-catalog"
        f" candidates seen at threshold 0.2: {len(fc)}, highest"
        f" {', '.join(f'{c:.2f}' for c in fc[:5]) or '-'}.",
    ]
    extra: list[str] = []
    if not args.skip_ingest:
        dt, audio, rss = ingest_100(songs)
        extra += [
            "",
            f"Ingest of 100 files ({len(songs)} real catalog files repeated; fresh process):"
            f" {dt:.1f} s for {audio / 60:.0f} min of audio = {audio / dt:.0f} x realtime,"
            f" peak RSS {rss:.0f} MB.",
        ]
    if not args.skip_scaling:
        extra += ["", "| index tracks | postings | lookup of 1 s of query (7 speeds x 80 hashes)"
                  " | postings returned |", "|---|---|---|---|"]  # fmt: skip
        for n, h, us, q in index_scaling((100, 1000, 10000)):
            extra.append(f"| {n} | {h:,} | {us:.0f} µs | {q:.0f} |")
    lines += extra
    mode = f"{len(scores)} stations x 5 min" if args.quick else f"{len(scores)} stations x 25 min"
    text = "\n".join(lines)
    print()
    print(text)
    cmd = "python bench/bench_recognition.py" + (" --quick" if args.quick else "")
    cmd += f" --reps {args.reps}" + (f" --ref {args.ref}" if args.ref else "")
    cmd += (" --stations " + " ".join(args.stations)) if args.stations else ""
    # the one-core sections (bench_onecore.py, bench_scan_profile.py) are kept as they are
    kept = RESULTS.read_text() if RESULTS.exists() else ""
    kept = kept[kept.index(ONE_CORE) :] if ONE_CORE in kept else ""
    RESULTS.write_text(
        f"# Recognition benchmark ({mode})\n\nCommand: `{cmd}`  (engine rate {SAMPLE_RATE} Hz)\n\n"
        + text
        + "\n"
        + ("\n" + kept if kept else "")
    )


if __name__ == "__main__":
    main()
