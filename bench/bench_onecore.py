"""One core, side by side: ``airtrack scan`` (the whole process), Olaf and an ffmpeg decode.

    .venv/bin/python bench/bench_onecore.py [--olaf PATH] [--ref GIT_REF] [--reps 3]

Every command runs pinned to one core (``taskset -c 0``) on the same station recordings
(``bench/stations.py``), alternately, ``--reps`` times; the table shows medians of the CPU
seconds of the child processes (``resource.getrusage(RUSAGE_CHILDREN)``, user + system) and
of wall-clock seconds.  What a fleet pays for is CPU; wall time on a shared machine is noise.

- airtrack: ``airtrack scan FILE --json`` in a fresh process, startup and index load
  included, against a catalog in an embedded database under ``bench/data/onecore-home``
  (built once with ``airtrack catalog add``).  The embedded PostgreSQL runs detached, so
  when a scan asks the database its server's CPU is *not* in the figure.
- Olaf: what its command line does for ``olaf query FILE``: ffmpeg converts to 16 kHz mono
  f32 raw, then the C core (``olaf_c query RAW NAME``) matches; both processes are counted.
  Olaf is built from its public source outside this repository (it is never vendored):
  pass the C core binary with ``--olaf`` or ``AIRTRACK_BENCH_OLAF``; without it the column
  is skipped.  Build it with ``make compile_core`` in a checkout of JorenSix/Olaf
  (``bin/olaf_core``; needs gcc only).  Its database lives under ``bench/data/olaf-home``.
- decode: ``ffmpeg -i FILE -ac 1 -ar 8000 -f s16le -`` to /dev/null: the floor.
- ``--ref``: ``airtrack scan`` of that git ref (its ``airtrack/`` tree, same catalog and
  cache) alternated with the current one: the before/after of a change, in one run.

Both trees are byte-compiled first (``compileall``), as an installed package is.
Startup is measured apart: ``airtrack scan`` of a 5-s clip (a table, and ``--json``), and
``python -c pass`` (Python's own start), ``--startup-runs`` times each, alternately.  The
live matcher's CPU per stream-second (``StreamingMatcher.feed`` over 4-s blocks, in this
process) is a row too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _audio as A
from bench import stations as S

REPO = Path(__file__).resolve().parent.parent
HOME = S.DATA / "onecore-home"
OLAF_HOME = S.DATA / "olaf-home"
STATIONS = ("A-fm128", "B-am64", "C-talk96", "D-speed96")
PIN = ["taskset", "-c", "0"]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_pinned(cmds: list[list[str]], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(CPU s, wall s) of running ``cmds`` one after the other, each pinned to core 0."""
    c0, t0 = _children_cpu(), time.perf_counter()
    for cmd in cmds:
        # cwd: ``python -m`` puts it first on sys.path, before the tree in PYTHONPATH
        subprocess.run(
            [*PIN, *cmd], env=env, check=True, stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir()
        )
    return _children_cpu() - c0, time.perf_counter() - t0


def airtrack_env(tree: Path = REPO) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(tree), AIRTRACK_HOME=str(HOME), AIRTRACK_LOG_LEVEL="WARNING")
    env.pop("AIRTRACK_DATABASE_URL", None)
    env.pop("AIRTRACK_ORCHESTRATOR_URL", None)
    return env


def airtrack(*args: str) -> list[str]:
    return [sys.executable, "-m", "airtrack", *args]


def ensure_catalog(songs: list[S.Song]) -> None:
    """The bench catalog in the embedded database under HOME (once), and a warm snapshot."""
    marker = HOME / "catalog-added"
    if not marker.exists():
        HOME.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            airtrack("catalog", "add", *[s.path for s in songs]), env=airtrack_env(), check=True
        )
        marker.write_text("\n".join(s.path for s in songs))
    clip = S.DATA / "clip-5s.mp3"
    if not clip.exists():
        src = songs[0].path
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "30", "-t", "5", "-i", src,
                        str(clip)], check=True)  # fmt: skip
    # builds the snapshot if the catalog moved since it was built
    subprocess.run(airtrack("scan", str(clip)), env=airtrack_env(), check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def olaf_commands(olaf: str, audio: Path, raw: Path, mode: str) -> list[list[str]]:
    decode = ["ffmpeg", "-v", "error", "-y", "-i", str(audio), "-ac", "1", "-ar", "16000",
              "-f", "f32le", "-acodec", "pcm_f32le", str(raw)]  # fmt: skip
    return [decode, [olaf, mode, str(raw), audio.name]]


def ensure_olaf(olaf: str, songs: list[S.Song], env: dict[str, str]) -> None:
    marker = OLAF_HOME / "stored"
    if marker.exists():
        return
    (OLAF_HOME / ".olaf" / "db").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for s in songs:
            for cmd in olaf_commands(olaf, Path(s.path), Path(tmp) / "ref.raw", "store"):
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    marker.write_text("\n".join(s.path for s in songs))


def compiled(tree: Path) -> Path:
    """``tree`` with its bytecode written, as an installed package has it: with
    PYTHONDONTWRITEBYTECODE set and no ``__pycache__``, every run would compile every
    module it imports (a tenth of a second and more of each start)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "airtrack")], check=True)
    return tree


def ref_tree(ref: str) -> Path:
    """The ``airtrack/`` package of git ``ref`` in a temporary folder, compiled, with its C
    extension built when it has one (else the 'before' would run the numpy references)."""
    tmp = Path(tempfile.mkdtemp(prefix="airtrack-ref-"))
    files = ["airtrack"]
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "--name-only", ref, "setup.py", "pyproject.toml"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    files += listed.stdout.split()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, *files], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    if (tmp / "setup.py").exists():
        subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
            cwd=tmp, check=True, capture_output=True,
        )  # fmt: skip
        built = list((tmp / "airtrack" / "fingerprint").glob("_native*.so"))
        print(f"before ({ref}): C extension {'built' if built else 'NOT built'}")
    return compiled(tmp)


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def station_rows(mp3s: dict[str, Path], olaf: str | None, ref: Path | None, reps: int) -> list[str]:
    olaf_env = {**os.environ, "HOME": str(OLAF_HOME)}
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="onecore-"))
    for rep in range(reps):
        for name, mp3 in mp3s.items():
            scan = [airtrack("scan", str(mp3), "--json")]
            decode = [["ffmpeg", "-v", "error", "-i", str(mp3), "-ac", "1", "-ar", "8000",
                       "-f", "s16le", "-"]]  # fmt: skip
            jobs: list[tuple[str, list[list[str]], dict[str, str] | None]] = [
                ("scan", scan, airtrack_env()),
                ("decode", decode, None),
            ]
            if olaf:
                jobs.append(("olaf", olaf_commands(olaf, mp3, tmp / "q.raw", "query"), olaf_env))
            if ref is not None:
                jobs.append(("ref", scan, airtrack_env(ref)))
            # the order turns every rep: the first of a station's runs ran measurably slower
            for key, cmds, env in jobs if rep % 2 == 0 else jobs[::-1]:
                runs.setdefault((name, key), []).append(run_pinned(cmds, env))
    shutil.rmtree(tmp, ignore_errors=True)
    head = "| station | audio min | airtrack scan CPU / wall (s) | decode to 8 kHz CPU / wall (s)"
    head += " | Olaf CPU / wall (s) | scan CPU / decode CPU | scan CPU / Olaf CPU |"
    if ref is not None:
        head += " before CPU (s) | after / before CPU |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    tot: dict[str, float] = {}
    for name, mp3 in mp3s.items():
        cells = {k: (_med([c for c, _ in v]), _med([w for _, w in v]))
                 for (n, k), v in runs.items() if n == name}  # fmt: skip
        for k, (c, _) in cells.items():
            tot[k] = tot.get(k, 0.0) + c
        scan, dec = cells["scan"], cells["decode"]
        ol = cells.get("olaf", (float("nan"), float("nan")))
        row = (f"| {name} | {S.ffprobe_duration(mp3) / 60:.1f} | {scan[0]:.2f} / {scan[1]:.2f} |"
               f" {dec[0]:.2f} / {dec[1]:.2f} | {ol[0]:.2f} / {ol[1]:.2f} |"
               f" {scan[0] / dec[0]:.2f} | {scan[0] / ol[0]:.2f} |")  # fmt: skip
        if ref is not None:
            row += f" {cells['ref'][0]:.2f} | {scan[0] / cells['ref'][0]:.2f} |"
        lines.append(row)
    row = (f"| TOTAL | | {tot['scan']:.2f} | {tot['decode']:.2f} | {tot.get('olaf', 0):.2f} |"
           f" {tot['scan'] / tot['decode']:.2f} |"
           f" {tot['scan'] / tot.get('olaf', float('nan')):.2f} |")  # fmt: skip
    if ref is not None:
        row += f" {tot['ref']:.2f} | {tot['scan'] / tot['ref']:.2f} |"
    lines.append(row)
    return lines


def startup_rows(runs: int, ref: Path | None) -> list[str]:
    """Repeated runs, alternately (hyperfine-like): mean ± sd of CPU and wall."""
    clip = str(S.DATA / "clip-5s.mp3")
    cases: dict[str, Callable[[], tuple[float, float]]] = {
        "python -c pass": lambda: run_pinned([[sys.executable, "-c", "pass"]]),
        "airtrack scan 5-s clip": lambda: run_pinned([airtrack("scan", clip)], airtrack_env()),
        # the station rows' form: no table, so no rich
        "airtrack scan 5-s clip --json": lambda: run_pinned(
            [airtrack("scan", clip, "--json")], airtrack_env()
        ),
        "airtrack --help": lambda: run_pinned([airtrack("--help")], airtrack_env()),
    }
    if ref is not None:
        env = airtrack_env(ref)
        cases["before: airtrack scan 5-s clip"] = lambda: run_pinned([airtrack("scan", clip)], env)
        cases["before: airtrack scan 5-s clip --json"] = lambda: run_pinned(
            [airtrack("scan", clip, "--json")], env
        )
    got: dict[str, list[tuple[float, float]]] = {k: [] for k in cases}
    for _ in range(runs):
        for k, fn in cases.items():
            got[k].append(fn())
    lines = ["| command (one core) | CPU s mean ± sd | wall s mean ± sd | CPU over python (mean)"
             " | CPU over python (median) |", "|---|---|---|---|---|"]  # fmt: skip
    base = statistics.mean(c for c, _ in got["python -c pass"])
    base_med = statistics.median(c for c, _ in got["python -c pass"])
    for k, v in got.items():
        cs, ws = [c for c, _ in v], [w for _, w in v]
        lines.append(
            f"| `{k}` | {statistics.mean(cs):.3f} ± {statistics.pstdev(cs):.3f} |"
            f" {statistics.mean(ws):.3f} ± {statistics.pstdev(ws):.3f} |"
            f" {statistics.mean(cs) - base:+.3f} | {statistics.median(cs) - base_med:+.3f} |"
        )
    return lines


def live_row(mp3: Path) -> str:
    """CPU per stream-second of the live path: StreamingMatcher.feed over 4-s blocks.

    With the C extension built, the engine's numpy reference (the same code without the
    C loops) is run alternately with it: the before/after of the C loops, plays compared.
    """
    import numpy as np

    from airtrack.fingerprint import SAMPLE_RATE, Index, StreamingMatcher, decode, landmarks
    from airtrack.fingerprint import index as index_module

    snaps = sorted((HOME / "snapshots").glob("*.idx"), key=lambda p: p.stat().st_mtime)
    index = Index.load(snaps[-1])
    samples = np.concatenate(list(decode(mp3)))
    os.sched_setaffinity(0, {0})
    native = landmarks._native
    engines = {"C loops": native, "numpy reference": None} if native else {"numpy": None}
    cpu: dict[str, list[float]] = {k: [] for k in engines}
    plays: dict[str, list[object]] = {}
    for _ in range(3):
        for name, module in engines.items():
            landmarks._native = index_module._native = module  # type: ignore[assignment]
            m = StreamingMatcher(index)
            found: list[object] = []
            c0 = time.process_time()
            for i in range(0, samples.shape[0], 4 * SAMPLE_RATE):
                found += m.feed(samples[i : i + 4 * SAMPLE_RATE])
            found += m.close()
            cpu[name].append(time.process_time() - c0)
            plays[name] = found
    landmarks._native = index_module._native = native  # type: ignore[assignment]
    secs = samples.shape[0] / SAMPLE_RATE
    same = len({repr(p) for p in plays.values()}) == 1
    cells = ", ".join(
        f"{k} {_med(v):.2f} CPU s = {_med(v) / secs * 1e3:.2f} ms per stream-second"
        for k, v in cpu.items()
    )
    return (
        f"Live matcher ({mp3.stem}, 4-s blocks, samples in memory, median of 3, alternately):"
        f" {secs:.0f} s of stream: {cells}; plays identical: {same}."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--olaf",
        default=os.environ.get("AIRTRACK_BENCH_OLAF"),
        help="Olaf's C core binary (bin/olaf_core); default $AIRTRACK_BENCH_OLAF",
    )
    ap.add_argument("--ref", default="", help="git ref of the 'before' airtrack ('' = none)")
    ap.add_argument("--reps", type=int, default=3, help="alternate runs per station")
    ap.add_argument("--startup-runs", type=int, default=10)
    ap.add_argument("--stations", nargs="*", default=list(STATIONS))
    ap.add_argument("--skip-stations", action="store_true", help="startup and live rows only")
    args = ap.parse_args()
    A.ensure_tools()
    if shutil.which("taskset") is None:
        sys.exit("taskset (util-linux) is needed")
    songs = S.catalog_songs()
    ensure_catalog(songs)
    olaf = args.olaf if args.olaf and Path(args.olaf).is_file() else None
    if olaf:
        ensure_olaf(olaf, songs, {**os.environ, "HOME": str(OLAF_HOME)})
    else:
        print("Olaf: no binary given (--olaf / AIRTRACK_BENCH_OLAF): column skipped")
    compiled(REPO)
    ref = ref_tree(args.ref) if args.ref else None
    mp3s = {
        spec.name: S.build_station(spec)[0] for spec in S.STATIONS if spec.name in args.stations
    }
    load = os.getloadavg()
    lines = [f"Machine load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
             f" ({os.cpu_count()} cores).", ""]  # fmt: skip
    if not args.skip_stations:
        lines += [*station_rows(mp3s, olaf, ref, args.reps), ""]
    lines += [*startup_rows(args.startup_runs, ref), ""]
    lines.append(live_row(next(iter(mp3s.values()))))
    load = os.getloadavg()
    lines.append(f"Machine load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}.")
    print("\n".join(lines))
    print(json.dumps({"argv": sys.argv[1:]}))


if __name__ == "__main__":
    main()
