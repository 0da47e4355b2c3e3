"""Where a scan's CPU goes: decode, STFT, peaks, pairing, hashing + lookup, matcher.

    .venv/bin/python bench/bench_scan_profile.py [--stations A-fm128 ...]

One core (``sched_setaffinity``), in this process, on the stations of ``bench/stations.py``
against the snapshot that ``bench/bench_onecore.py`` built (the same catalog as the
one-core table).  Decode is timed on its own (``decode()`` drained in this thread: the
scan decodes in a second thread, which a profiler of the main thread does not see); the
rest is ``StreamingMatcher`` fed the decoded samples in the scan's 16-s blocks under
cProfile, its stages taken as the cumulative time of the functions that do them.  The
profiler inflates Python-heavy stages more than numpy-heavy ones: the shares are the
point, and the total without profiler is printed beside them.

``--log-ab``: instead, the spectrogram's log alone, before/after: ``StreamingMatcher`` over
each station in the scan's 16-s blocks, with the C log10 (``log_band_power``) and with the
engine's earlier log (C band power, then ``np.log10``: the platform's ``log10f``),
alternately ``--reps`` times; median CPU and whether the plays are identical.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import SAMPLE_RATE, Index, StreamingMatcher, decode, landmarks
from bench import stations as S
from bench.bench_onecore import HOME, STATIONS

#: stage -> (file suffix, function name) whose cumulative time is that stage
STAGES = {
    "STFT": [("landmarks.py", "_stft")],
    "peaks": [("landmarks.py", "_pick")],
    "pairing": [("landmarks.py", "_pair")],
    "hashing + index lookup": [("evidence.py", "lookup_hits")],
    "matcher (evidence, airings)": [
        ("airing.py", "follow"),
        ("matcher.py", "_detect"),
        ("airing.py", "end"),
        ("matcher.py", "_prune"),
    ],
}


def _cum(stats: pstats.Stats, where: list[tuple[str, str]]) -> float:
    total = 0.0
    raw = stats.stats  # type: ignore[attr-defined]
    for (path, _line, name), (_cc, _nc, _tt, ct, _callers) in raw.items():
        if any(path.endswith(f) and name == fn for f, fn in where):
            total += ct
    return float(total)


def profile(mp3: Path, index: Index) -> tuple[float, dict[str, float], float, float]:
    """(decode CPU s, stage -> profiled s, profiled total s, unprofiled matcher CPU s)."""
    c0 = time.process_time()
    samples = np.concatenate(list(decode(mp3)))
    dec = time.process_time() - c0
    step = 16 * SAMPLE_RATE

    def run() -> None:
        m = StreamingMatcher(index)
        for i in range(0, samples.shape[0], step):
            m.feed(samples[i : i + step])
        m.close()

    c0 = time.process_time()
    run()
    plain = time.process_time() - c0
    prof = cProfile.Profile(time.process_time)  # CPU, not wall: the machine may be busy
    c0 = time.process_time()
    prof.runcall(run)
    profiled = time.process_time() - c0
    stats = pstats.Stats(prof)
    return dec, {k: _cum(stats, v) for k, v in STAGES.items()}, profiled, plain


def _numpy_log(spectrum: npt.NDArray[np.complex64], out: npt.NDArray[np.float32]) -> None:
    """The engine's log before the C log10: the C band power, then ``np.log10``."""
    landmarks.band_power(spectrum, out)
    np.log10(out, out=out)


def log_ab(index: Index, stations: list[str], reps: int) -> None:
    c_log = landmarks.log_band_power
    cpu: dict[str, list[float]] = {"C log10": [], "np.log10": []}
    audio = 0.0
    same = True
    for spec in S.STATIONS:
        if spec.name not in stations:
            continue
        mp3, _ = S.build_station(spec)
        samples = np.concatenate(list(decode(mp3)))
        audio += samples.shape[0] / SAMPLE_RATE
        step = 16 * SAMPLE_RATE
        plays: dict[str, str] = {}
        for _ in range(reps):
            for name, fn in (("C log10", c_log), ("np.log10", _numpy_log)):
                landmarks.log_band_power = fn  # type: ignore[assignment]
                try:
                    m = StreamingMatcher(index)
                    c0 = time.process_time()
                    found = [e for i in range(0, samples.shape[0], step)
                             for e in m.feed(samples[i : i + step])] + m.close()  # fmt: skip
                    cpu[name].append(time.process_time() - c0)
                finally:
                    landmarks.log_band_power = c_log  # type: ignore[assignment]
                plays[name] = repr(found)
        same = same and len(set(plays.values())) == 1
        print(f"{spec.name}: plays identical {len(set(plays.values())) == 1}", flush=True)
    for name, xs in cpu.items():
        per = [sum(xs[i::reps]) for i in range(reps)]  # each repetition over all stations
        print(f"{name}: matcher CPU {statistics.median(per):.2f} s for {audio / 60:.0f} min"
              f" of audio (runs: {', '.join(f'{x:.2f}' for x in per)})")  # fmt: skip
    print(f"plays identical on every station: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--stations", nargs="*", default=list(STATIONS))
    ap.add_argument("--log-ab", action="store_true", help="the C log10 against np.log10 alone")
    ap.add_argument("--reps", type=int, default=3, help="alternate runs for --log-ab")
    args = ap.parse_args()
    os.sched_setaffinity(0, {0})
    snaps = sorted((HOME / "snapshots").glob("*.idx"), key=lambda p: p.stat().st_mtime)
    if not snaps:
        sys.exit("no snapshot: run bench/bench_onecore.py first (it builds the catalog)")
    index = Index.load(snaps[-1])
    if args.log_ab:
        log_ab(index, args.stations, args.reps)
        return
    totals: dict[str, float] = {"decode": 0.0}
    plain_total = profiled_total = 0.0
    audio = 0.0
    for spec in S.STATIONS:
        if spec.name not in args.stations:
            continue
        mp3, _ = S.build_station(spec)
        dec, stages, profiled, plain = profile(mp3, index)
        audio += S.ffprobe_duration(mp3)
        totals["decode"] += dec
        for k, v in stages.items():
            totals[k] = totals.get(k, 0.0) + v
        profiled_total += profiled
        plain_total += plain
        print(f"{spec.name}: decode {dec:.2f} s, matcher {plain:.2f} s ({profiled:.2f} s profiled)",
              flush=True)  # fmt: skip
    other = profiled_total - sum(v for k, v in totals.items() if k != "decode")
    totals["other (feed, buffers)"] = other
    # shares: decode as measured; the matcher's stages scaled to its unprofiled CPU
    scale = plain_total / profiled_total
    whole = totals["decode"] + plain_total
    print(f"\n{audio / 60:.0f} min of audio, one core; CPU s per audio hour (share of a scan):\n")
    print("| stage | CPU s per audio hour | share |")
    print("|---|---|---|")
    for k, v in totals.items():
        s = v if k == "decode" else v * scale
        print(f"| {k} | {s / audio * 3600:.1f} | {100 * s / whole:.0f} % |")
    print(f"| total (decode + matcher, unprofiled) | {whole / audio * 3600:.1f} | 100 % |")
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
