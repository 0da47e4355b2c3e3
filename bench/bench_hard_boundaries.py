"""Boundaries where the audio is hard: a small station with a quiet intro under noise, DJ
speech over an intro and an outro, a 2 % speed shift, a quiet intro at 2 % slow and a
looping song joined mid-way.

    PYTHONPATH=. .venv/bin/python bench/bench_hard_boundaries.py [--seed N] [--distractors N]

Prints each airing's start and end error (play minus truth, seconds).  Not a test: run by
hand; the figures are in bench/RESULTS-recognition.md ("Hard boundaries").  The
catalog is the first 80 s of each hyperrogue track (the station's songs and the rest as
distractors); the station is compressed and put under pinkish noise at 12 dB SNR.
``--distractors N`` adds N generated tracks (``bench/_distractors.py``, as the catalog
scale benchmark makes them); that index is built once, out of core, and kept in
``bench/out/hard-boundaries/`` (30,000 take minutes to build).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from airtrack.fingerprint import (
    SAMPLE_RATE,
    Index,
    Prints,
    fingerprint_samples,
    pack_prints,
    scan_samples,
)
from bench import _audio as A
from bench import _distractors as D
from bench._scale_index import RawPostings, write_index

SR = SAMPLE_RATE
HR = Path("/usr/share/hyperrogue/music")
INTRO = (
    "Good evening, this is the late show with the best of the hits all night long, stay "
    "with us for the news at the top of the hour and the weather"
)
OUTRO = (
    "That was a great one, you are listening to the late show, next up after the break we "
    "have traffic and the travel news for the whole region"
)
BETWEEN = "And now something completely different for all of you at home"


def _norm(x: A.Audio, target: float = 0.1) -> A.Audio:
    return (x * (target / A.rms(x))).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1, help="noise seed")
    ap.add_argument("--distractors", type=int, default=0, help="generated tracks added")
    args = ap.parse_args()
    A.ensure_tools()
    songs: dict[int, A.Audio] = {}
    for i, path in enumerate(sorted(HR.glob("*.ogg")), start=1):
        try:
            x = A.load(path, SR)
        except Exception:  # a few files of the package are corrupt
            continue
        if x.shape[0] >= 80 * SR:
            songs[i] = x[: 80 * SR]
    prints = {tid: fingerprint_samples(x) for tid, x in songs.items()}
    if args.distractors:
        index = _with_distractors(prints, args.distractors)
    else:
        index = Index.build((tid, pack_prints(p)) for tid, p in prints.items())
    ids = list(songs)
    mix = np.zeros(400 * SR, np.float32)
    truth: list[tuple[str, int, float, float]] = []
    pos = 3 * SR

    def put(x: A.Audio, what: str, tid: int) -> None:
        nonlocal pos
        mix[pos : pos + x.shape[0]] += x
        truth.append((what, tid, pos / SR, (pos + x.shape[0]) / SR))
        pos += x.shape[0] + 2 * SR

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        talk = [_norm(A.load(_speech(t, work), SR), 0.12) for t in (INTRO, OUTRO, BETWEEN)]
    quiet = _norm(songs[ids[0]][: 70 * SR])
    quiet[: 20 * SR] *= np.float32(10 ** (-24 / 20))
    put(quiet, "first 20 s 24 dB quieter", ids[0])
    dj = _norm(songs[ids[1]][: 70 * SR])
    n1, n2 = min(talk[0].shape[0], 12 * SR), min(talk[1].shape[0], 11 * SR)
    dj[:n1] = dj[:n1] * np.float32(10 ** (-10 / 20)) + talk[0][:n1]
    dj[-n2:] = dj[-n2:] * np.float32(10 ** (-10 / 20)) + talk[1][:n2]
    put(dj, "DJ over intro and outro (music ducked 10 dB)", ids[1])
    put(_norm(A.change_speed(songs[ids[2]][: 70 * SR], 1.02)), "2 % fast", ids[2])
    mix[pos : pos + talk[2].shape[0]] += talk[2]
    pos += talk[2].shape[0] + 2 * SR
    slow = _norm(A.change_speed(songs[ids[3]][10 * SR : 70 * SR], 0.98))
    slow[: 15 * SR] *= np.float32(10 ** (-22 / 20))
    put(slow, "joined at 10 s, 2 % slow, first 15 s 22 dB quieter", ids[3])
    mix[pos : pos + talk[2].shape[0]] += talk[2]
    pos += talk[2].shape[0] + 2 * SR
    put(_norm(songs[ids[0]][33 * SR : 70 * SR]), "the looping song joined at 33 s", ids[0])
    audio = A.add_noise(A.compress(mix[: pos + 5 * SR]), 12, np.random.default_rng(args.seed))
    plays = scan_samples(audio, index)
    for what, tid, start, end in truth:
        mine = [p for p in plays if p.track_id == tid and p.start_s < end and p.end_s > start]
        for p in mine:
            print(f"{what}: start {p.start_s - start:+.2f} s, end {p.end_s - end:+.2f} s")
        if not mine:
            print(f"{what}: MISSED")
    false = [p for p in plays if not any(t == p.track_id and p.start_s < e and p.end_s > s
                                         for _, t, s, e in truth)]  # fmt: skip
    print(f"false plays: {len(false)}, rows: {len(plays)} for {len(truth)} airings")


def _with_distractors(prints: dict[int, Prints], n: int) -> Index:
    """The songs' index with ``n`` distractors after them, built once and kept."""
    out = Path(__file__).resolve().parent / "out" / "hard-boundaries"
    path = out / f"index-{len(prints)}-{n}.bin"
    if not path.exists():
        from bench.bench_catalog_scale import sources

        srcs = sources()
        raw = RawPostings(out / f"raw-{os.getpid()}")
        for tid, p in prints.items():
            raw.add(tid, p)
        for number in range(n):
            raw.add(100_000_000 + number, D.distractor(number, srcs))
        write_index(raw, len(raw.ids), path)
        raw.close()
        for f in raw.folder.iterdir():
            f.unlink()
        raw.folder.rmdir()
    return Index.load(path)


def _speech(text: str, work: Path) -> Path:

    wav = work / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "165", "-w", str(wav), text], check=True)
    return wav


if __name__ == "__main__":
    main()
