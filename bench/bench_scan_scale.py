"""A whole ``airtrack scan`` at 30 and at 100,000 tracks, on one core.

    .venv/bin/python bench/bench_scan_scale.py [--reps 3] [--ref GIT_REF] [--cold]
    .venv/bin/python bench/bench_scan_scale.py --profile A-fm128 [--catalog 100k]

Each run is the real command in a fresh process (``taskset -c 0``, ``python -m airtrack
scan STATION.mp3 --json``: start, imports, index load, decode, match, output); its CPU is
the child's (``getrusage(RUSAGE_CHILDREN)``, user + system).  The four 25-min stations of
``bench/bench_onecore.py`` are scanned against two catalogs, alternately, ``--reps`` times
(medians):

- *30*: the recognition benchmark's catalog items (``Index.build`` of their prints);
- *100k*: the index ``bench/bench_catalog_scale.py --sizes 100000 --index-only`` wrote
  (those same items plus generated distractors; ``SCALE_OUT``, default
  bench/out/scale100k).

How the scan finds the index: the way ``airtrack scan`` does on an unchanged catalog,
through the scan card (``airtrack/catalog/card.py``).  Each catalog gets a home under
bench/out/scan-scale whose ``snapshots/`` holds the index (a symbolic link to the 100k
file) and whose card names every track (100,000 entries at 100k, as a real card has) and
stamps two files that stand for the database's: the scan trusts the card and starts no
database, as on a stopped embedded server.  No option of the command is added for this.

Page cache: "warm" runs follow a run on the same index; ``--cold`` adds one run per
station whose index file was first dropped from the page cache
(``posix_fadvise(POSIX_FADV_DONTNEED)``, no root needed); the index's resident share before
each run is read with ``fincore``.  Plays are scored against each station's truth as
``bench/bench_recognition.py`` does (found / catalog plays, false plays).  ``--ref``: the
same runs with the ``airtrack/`` tree of that git ref, alternated: before/after, one run.
``--profile STATION``: one scan under cProfile with a CPU clock (``time.process_time``),
top functions by own and by cumulative time.  Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import stations as S
from bench.bench_onecore import PIN, REPO, compiled, ref_tree, run_pinned

SCALE = Path(os.environ.get("SCALE_OUT", REPO / "bench" / "out" / "scale100k"))
OUT = REPO / "bench" / "out" / "scan-scale"
STATIONS = ("A-fm128", "B-am64", "C-talk96", "D-speed96")
BIG = "index-100000.atix"


def _home(label: str, index: Path, names: dict[int, str]) -> Path:
    """A state folder whose scan card points at ``index`` (see the module doc)."""
    home = OUT / f"home-{label}"
    (home / "pg").mkdir(parents=True, exist_ok=True)
    snaps = home / "snapshots"
    snaps.mkdir(exist_ok=True)
    link = snaps / index.name
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(index.resolve())
    stamp = []
    for rel in ("state", "tracks"):
        f = home / "pg" / rel
        if not f.exists():
            f.write_text(rel)
        st = f.stat()
        stamp.append([rel, st.st_size, st.st_mtime_ns])
    card = {"format": 1, "snapshot": index.name, "revision": 1, "stamp": stamp,
            "tracks": {str(k): [v, None, None] for k, v in names.items()}}  # fmt: skip
    (snaps / "scan-card.json").write_text(json.dumps(card))
    return home


def small_index(names: dict[int, str]) -> Path:
    """The 30-item catalog's index (ids as in the 100k index), built once."""
    path = OUT / "index-30.atix"
    if not path.exists():
        from airtrack.fingerprint import Index, fingerprint_file
        from airtrack.fingerprint.landmarks import pack_prints

        songs = S.catalog_songs()
        assert all(names[i + 1] == s.name for i, s in enumerate(songs)), "names.json differs"
        items = [(i + 1, pack_prints(fingerprint_file(s.path))) for i, s in enumerate(songs)]
        OUT.mkdir(parents=True, exist_ok=True)
        Index.build(items).save(path)
    return path


def env_for(home: Path, tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(tree), AIRTRACK_HOME=str(home), AIRTRACK_LOG_LEVEL="WARNING")
    for key in ("AIRTRACK_DATABASE_URL", "AIRTRACK_ORCHESTRATOR_URL"):
        env.pop(key, None)
    return env


def resident(path: Path) -> float:
    """Share of ``path`` in the page cache (``fincore``), 0-1."""
    out = subprocess.run(["fincore", "-b", "-n", "-o", "RES,SIZE", str(path.resolve())],
                         capture_output=True, text=True, check=False).stdout.split()  # fmt: skip
    return int(out[0]) / max(1, int(out[1])) if len(out) == 2 else float("nan")


def drop_cache(path: Path) -> None:
    fd = os.open(path.resolve(), os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def scan_once(mp3: Path, env: dict[str, str]) -> tuple[float, float, list[dict[str, Any]]]:
    """(CPU s, wall s, plays) of one pinned ``airtrack scan --json``."""
    out = Path(tempfile.mkstemp(prefix="scan-scale-", suffix=".json")[1])
    try:
        with out.open("w") as fh:
            cpu, wall = run_pinned_to(fh, [sys.executable, "-m", "airtrack", "scan", str(mp3),
                                           "--json"], env)  # fmt: skip
        plays = json.loads(out.read_text() or "[]")
    finally:
        out.unlink()
    return cpu, wall, plays


def run_pinned_to(fh: Any, cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """``run_pinned`` with stdout kept (``bench_onecore.run_pinned`` drops it)."""
    import resource
    import time

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    subprocess.run([*PIN, *cmd], env=env, check=True, stdout=fh, cwd=tempfile.gettempdir())
    return cpu() - c0, time.perf_counter() - t0


def score(plays: list[dict[str, Any]], truth: list[S.Airing], names: dict[int, str]) -> str:
    """found/catalog plays (songs + short items) and false plays, as bench_recognition."""
    items = [a for a in truth if a.catalog and a.kind in ("song", "ad")]
    owned: set[int] = set()
    false = 0
    for p in plays:
        hits = [(min(p["end"], a.end) - max(p["start"], a.start), i) for i, a in enumerate(items)
                if names.get(p["track_id"]) == a.name and p["start"] < a.end
                and p["end"] > a.start]  # fmt: skip
        if hits:
            owned.add(max(hits)[1])
        else:
            false += 1
    return f"{len(owned)}/{len(items)}, {false} false"


def profile(mp3: Path, env: dict[str, str], top: int) -> str:
    """One scan under cProfile with a CPU clock: the top functions, as text."""
    stats = OUT / f"profile-{mp3.stem}.pstats"
    code = (
        "import cProfile, sys, time\n"
        f"sys.argv = ['airtrack', 'scan', {str(mp3)!r}, '--json']\n"
        "p = cProfile.Profile(time.process_time)\n"
        "p.enable()\n"
        "try:\n    from airtrack.cli import main\n    main()\n"
        "except SystemExit:\n    pass\n"
        f"p.disable()\np.dump_stats({str(stats)!r})\n"
    )
    subprocess.run([*PIN, sys.executable, "-c", code], env=env, check=True,
                   stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir())  # fmt: skip
    import io
    import pstats

    buf = io.StringIO()
    p = pstats.Stats(str(stats), stream=buf)
    p.sort_stats("tottime").print_stats(top)
    p.sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ref", default="", help="git ref of the 'before' airtrack ('' = none)")
    ap.add_argument("--cold", action="store_true", help="one cold-cache run per station too")
    ap.add_argument("--stations", nargs="*", default=list(STATIONS))
    ap.add_argument("--profile", metavar="STATION", help="profile one scan of this station")
    ap.add_argument("--catalog", default="100k", choices=("30", "100k"))
    ap.add_argument("--top", type=int, default=30)
    args = ap.parse_args()
    if shutil.which("taskset") is None:
        sys.exit("taskset (util-linux) is needed")
    names = {int(k): v for k, v in json.loads((SCALE / "names.json").read_text()).items()}
    big = SCALE / BIG
    small = small_index(names)
    small_names = {i + 1: s.name for i, s in enumerate(S.catalog_songs())}
    homes = {"30": _home("30", small, small_names), "100k": _home("100k", big, names)}
    indexes = {"30": small, "100k": big}
    trees = {"after": compiled(REPO)}
    if args.ref:
        trees["before"] = ref_tree(args.ref)
    built = {spec.name: S.build_station(spec) for spec in S.STATIONS if spec.name in args.stations}
    if args.profile:
        mp3 = built[args.profile][0]
        env = env_for(homes[args.catalog], trees["after"])
        scan_once(mp3, env)  # warm
        print(profile(mp3, env, args.top))
        return
    run_pinned([["true"]])
    load = os.getloadavg()
    runs: dict[tuple[str, str, str, str], list[tuple[float, float, float]]] = {}
    found: dict[tuple[str, str, str], str] = {}
    for tree in trees.values():  # warm every index once
        for cat in homes:
            scan_once(built[args.stations[0]][0], env_for(homes[cat], tree))
    for rep in range(args.reps):
        # the trees' order turns every rep: the first of a pair ran measurably slower
        # (caches), which alone made a change look 4 % cheaper
        order = list(trees.items()) if rep % 2 == 0 else list(reversed(trees.items()))
        for st, (mp3, truth) in built.items():
            for tree_name, tree in order:
                for cat, home in homes.items():
                    res = resident(indexes[cat])
                    cpu, wall, plays = scan_once(mp3, env_for(home, tree))
                    runs.setdefault((st, cat, tree_name, "warm"), []).append((cpu, wall, res))
                    found[(st, cat, tree_name)] = score(plays, truth, names)
    if args.cold:
        for st, (mp3, _) in built.items():
            for tree_name, tree in trees.items():
                drop_cache(big)
                res = resident(big)
                cpu, wall, _plays = scan_once(mp3, env_for(homes["100k"], tree))
                runs.setdefault((st, "100k", tree_name, "cold"), []).append((cpu, wall, res))
    end = os.getloadavg()
    print(f"Load average at start {load[0]:.2f}, at end {end[0]:.2f} ({os.cpu_count()} cores);"
          f" {args.reps} reps, medians; CPU = user + system of the scan process.\n")  # fmt: skip
    for tree_name in trees:
        ref = "HEAD" if tree_name == "after" else args.ref
        git = ["git", "-C", str(REPO), "rev-parse", "--short", ref]
        sha = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
        print(f"### {tree_name} ({ref} = {sha}{', with the work tree' * (ref == 'HEAD')})\n")
        print("| station | 30 tracks CPU / wall (s) | 100k CPU / wall (s) | 100k / 30 CPU |"
              " 100k index cached before a run | plays 30 | plays 100k |"
              + (" 100k cold CPU / wall (s) (cached before) |" if args.cold else ""))  # fmt: skip
        print("|---|---|---|---|---|---|---|" + ("---|" if args.cold else ""))
        tot = {"30": 0.0, "100k": 0.0}
        for st in built:
            cells = {}
            for cat in homes:
                v = runs[(st, cat, tree_name, "warm")]
                cpu = statistics.median(c for c, _, _ in v)
                cells[cat] = (cpu, statistics.median(w for _, w, _ in v), min(r for *_, r in v))
                tot[cat] += cells[cat][0]
            a, b = cells["30"], cells["100k"]
            row = (f"| {st} | {a[0]:.2f} / {a[1]:.2f} | {b[0]:.2f} / {b[1]:.2f} | {b[0] / a[0]:.2f}"
                   f" | {100 * b[2]:.0f} % | {found[(st, '30', tree_name)]} |"
                   f" {found[(st, '100k', tree_name)]} |")  # fmt: skip
            if args.cold:
                c, w, r = runs[(st, "100k", tree_name, "cold")][0]
                row += f" {c:.2f} / {w:.2f} ({100 * r:.0f} %) |"
            print(row)
        print(f"| TOTAL | {tot['30']:.2f} | {tot['100k']:.2f} | {tot['100k'] / tot['30']:.2f} |"
              " | | |" + (" |" if args.cold else ""))  # fmt: skip
        print()
    print(json.dumps({"argv": sys.argv[1:]}))


if __name__ == "__main__":
    main()
