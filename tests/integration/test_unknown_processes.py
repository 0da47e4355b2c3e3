"""Real processes: recurring unknowns discovered on two live stations, then labelled.

Two loopback stations loop programs in which a jingle (6.5 s) and a song (16 s) that
are not in the catalog recur, between speech that differs from station to station and a
catalog song the worker logs. The `airtrack worker` process archives what it hears; the
`airtrack orchestrator` leader's discovery job finds the jingle and the song as unknowns
aired on both stations (`airtrack unknown list/show`, from a laptop through the API),
never the catalog song or the speech. Labelling the jingle makes it a track and
back-fills its airings as plays, each starting within 3 s of where the jingle began.
Every process is stopped by pid.
"""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from airtrack.demo.music import render_jingle
from airtrack.demo.speech import render_talk
from tests.integration.orch_support import ADMIN
from tests.integration.test_catalog_delta_processes import _add_song
from tests.integration.test_orchestrator_replicas import Replica
from tests.support.cli import run_cli
from tests.support.processes import spawn_worker
from tests.support.wait import until as _until
from tests.unit._synth_music import song
from tests.unit.test_worker_support import StationServer, encode

SR = 8000
BITRATE = 32_000
SONG_S, JINGLE_S, TUNE_S = 8.0, 6.5, 16.0


def _t(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.slow  # listens until both stations aired both recordings (~60-90 s)
@pytest.mark.e2e
def test_unknowns_found_on_two_live_stations_and_a_labelled_jingle_is_backfilled(
    db_url: str, tmp_path: Path
) -> None:
    known, tune = song(701, SONG_S), song(703, TUNE_S)
    jingle = render_jingle(9, JINGLE_S, SR)
    talk = [render_talk(seed, 7.0, SR) for seed in (71, 72, 73, 74, 75)]
    one = [known, talk[0], jingle, talk[1], tune, talk[2]]
    loop_one = sum(len(x) for x in one) / SR
    two = [talk[3], tune, talk[4], jingle, known]
    stations = [
        StationServer(encode(np.concatenate(p), rate=SR, bitrate=BITRATE), bitrate=BITRATE)
        for p in (one, two)
    ]
    for s in stations:
        s.__enter__()
    orch = Replica(
        db_url,
        tmp_path / "orch",
        tmp_path / "orch.log",
        {"AIRTRACK_UNKNOWN_JOB_S": "1", "AIRTRACK_ARCHIVE_JOB_S": "0.5",
         "AIRTRACK_BACKFILL_DELAY_S": "3600", "AIRTRACK_CATALOG_WATCH_S": "0.3"},
    )  # fmt: skip
    worker: subprocess.Popen[bytes] | None = None
    admin = httpx.Client(base_url=orch.url, headers={"Authorization": f"Bearer {ADMIN}"})
    remote = {"AIRTRACK_ORCHESTRATOR_URL": orch.url, "AIRTRACK_ADMIN_TOKEN": ADMIN}
    try:
        orch.wait_ready()
        track_known = _add_song(db_url, 1, known)
        worker = spawn_worker(
            orch.url, tmp_path, "w-unknown", play_end_gap_s="4", archive_segment_s="5"
        )
        # the stations start with the catalog song: a worker that ran them before its
        # catalog came would first hear it part-way, a late start the phase below reads
        _until(
            lambda: "catalog_segments_loaded" in (tmp_path / "worker.log").read_text(),
            60,
            "the worker's catalog",
        )
        for name, s in zip(("one", "two"), stations, strict=True):
            r = admin.post("/api/v1/streams", json={"name": name, "url": s.url("/live.mp3")})
            assert r.status_code == 201, r.text

        def listed() -> list[dict[str, Any]]:
            done = run_cli("unknown", "list", "--json", env=remote, home=tmp_path / "cli")
            assert done.returncode == 0, done.stderr
            rows: list[dict[str, Any]] = json.loads(done.stdout)
            both = [u for u in rows if u["stations"] == ["one", "two"]]
            # the song arrives in 5-s segments: its airings widen pass by pass
            whole = any(u["duration_s"] >= 12 for u in both)
            return rows if len(both) >= 2 and whole else []

        found = _until(listed, 240, "the jingle and the whole song as unknowns on both stations")
        assert len(found) == 2, found  # not the catalog song, not the speech
        jingle_u, tune_u = sorted(found, key=lambda u: u["duration_s"])
        assert 4.5 <= jingle_u["duration_s"] <= 10, found
        assert 12 <= tune_u["duration_s"] <= 22, found
        shown = run_cli("unknown", "show", str(jingle_u["id"]), "--json", env=remote)
        assert shown.returncode == 0, shown.stderr
        airings = json.loads(shown.stdout)["airings"]
        assert {a["stream"] for a in airings} == {"one", "two"}
        assert all(datetime.fromisoformat(a["start"]).tzinfo is not None for a in airings)

        labelled = run_cli(
            "unknown", "label", str(jingle_u["id"]), "--title", "Station ID",
            "--artist", "Network", "--json", env=remote,
        )  # fmt: skip
        assert labelled.returncode == 0, labelled.stderr
        track = json.loads(labelled.stdout)["track_id"]

        def plays(tid: int) -> list[dict[str, Any]]:
            rows = admin.get("/api/v1/plays", params={"limit": 500, "track_id": tid}).json()
            return sorted(rows, key=lambda r: r["started_at"])

        filled = [p for p in plays(track) if p["play_source"] == "backfill"]
        assert {p["stream"] for p in filled} == {"one", "two"}, filled
        # on station one the jingle begins after the catalog song and the first speech
        heard = _until(
            lambda: [p for p in plays(track_known) if p["stream"] == "one"], 120, "the song heard"
        )
        known_starts = [_t(p["started_at"]) for p in heard]
        for p in (p for p in filled if p["stream"] == "one"):
            start = _t(p["started_at"])
            # the same place in the loop as a heard airing of the song, loops before or after
            first = known_starts[0] + SONG_S + 7.0
            truth = first + round((start - first) / loop_one) * loop_one
            assert abs(start - truth) <= 3.0, (p, truth)
        after = run_cli("unknown", "list", "--json", env=remote)
        assert [u["id"] for u in json.loads(after.stdout)] == [tune_u["id"]]
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=5)
        admin.close()
        orch.stop()
        for s in stations:
            s.__exit__(None, None, None)
