"""Real processes: a heard play's proof clip names its song, and a requested clip too.

A loopback station loops [catalog song A, gap] in real time. The `airtrack worker`
process hears A, cuts the play's first seconds from its rolling buffer, encodes them
and uploads the clip to the `airtrack orchestrator` process. `airtrack plays clip ID`
(through the API, as from a laptop) writes the file and `airtrack scan` on it names A.
Then a clip request for a stretch of A (made with ``request_clip``, as discovery does
for an airing of a recurring unknown) reaches the worker in a heartbeat reply; the clip
it uploads is the unknown's: `airtrack unknown clip ID` writes it, it names A too, and
its audio is the play's clip shifted by exactly the requested half second: the wall
stretch was mapped onto the connection's audio as the play was dated.
Every process is stopped by pid.

The clips are long (the whole 8-s song, and 7.5 s of it): 6-s excerpts of this short
synthetic song, after the station's MP3 and the clip's 16-kb/s Opus, are not named in
about one alignment in twenty, which is the recogniser's margin, not the clip's place.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from airtrack.db import Database
from airtrack.orchestrator.clips import request_clip
from airtrack.settings import load_settings
from tests.integration.test_catalog_delta_processes import _add_song
from tests.support.cli import run_cli
from tests.support.orchestrator import Replica
from tests.support.processes import spawn_worker
from tests.support.tokens import ADMIN
from tests.support.wait import until
from tests.unit._synth_music import song
from tests.unit.test_worker_support import StationServer, encode

SR = 8000
SONG_S, GAP_S = 8.0, 2.0
#: what lame makes of 8 kHz mono: the station paces by it, so the program runs in real time
BITRATE = 32_000
UNKNOWN = 77


def _scan(path: Path, db_url: str, home: Path) -> list[int]:
    proc = run_cli("scan", str(path), "--json", home=home, env={"AIRTRACK_DATABASE_URL": db_url})
    assert proc.returncode == 0, proc.stderr
    return [int(p["track_id"]) for p in json.loads(proc.stdout)]


def _audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        parts = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
    return np.concatenate(parts)


def _lag_s(early: np.ndarray, late: np.ndarray) -> float:
    """How far into ``early``'s audio ``late`` begins (seconds, by cross-correlation)."""
    n = 1 << (early.size + late.size).bit_length()
    corr = np.fft.irfft(np.fft.rfft(early, n) * np.conj(np.fft.rfft(late, n)), n)
    lags = np.r_[0 : 3 * SR, n - 2 * SR : n]  # -2 s .. +3 s: within one 10-s loop
    best = int(lags[np.argmax(corr[lags])])
    return (best if best < n // 2 else best - n) / SR


def _request(db_url: str, sid: int, start: datetime, end: datetime) -> int:
    async def go() -> int:
        db = Database(db_url, load_settings(), min_size=0, max_size=1)
        await db.open()
        try:
            return await request_clip(db, sid, start, end, UNKNOWN)
        finally:
            await db.close()

    return asyncio.run(go())


@pytest.mark.e2e
def test_a_heard_plays_clip_and_a_requested_clip_name_the_song(db_url: str, tmp_path: Path) -> None:
    a = song(611, SONG_S)
    gap = np.zeros(int(GAP_S * SR), np.float32)
    station = StationServer(
        encode(np.concatenate([a, gap]), rate=SR, bitrate=BITRATE), bitrate=BITRATE
    )
    station.__enter__()
    orch = Replica(
        db_url,
        tmp_path / "orch",
        tmp_path / "orch.log",
        {"AIRTRACK_CATALOG_WATCH_S": "0.3", "AIRTRACK_CLIP_REQUESTS_POLL_S": "0.3"},
    )
    worker: subprocess.Popen[bytes] | None = None
    admin = httpx.Client(base_url=orch.url, headers={"Authorization": f"Bearer {ADMIN}"})
    remote = {"AIRTRACK_ORCHESTRATOR_URL": orch.url, "AIRTRACK_ADMIN_TOKEN": ADMIN}
    try:
        orch.wait_ready()
        track = _add_song(db_url, 1, a)
        r = admin.post("/api/v1/streams", json={"name": "live", "url": station.url("/live.mp3")})
        assert r.status_code == 201, r.text
        sid = int(r.json()["id"])
        worker = spawn_worker(orch.url, tmp_path, "w-clips", clip_s="8", clip_buffer_s="60")

        def first_play() -> dict[str, Any] | None:
            rows = admin.get("/api/v1/plays", params={"track_id": track}).json()
            return rows[-1] if rows else None

        play = until(first_play, 90, "a play of A")
        out = tmp_path / "play.ogg"

        def clip_written() -> bool:
            proc = run_cli("plays", "clip", str(play["id"]), "--output", str(out), env=remote)
            assert proc.returncode in (0, 1), proc.stderr
            return proc.returncode == 0

        until(clip_written, 60, "the play's clip")
        assert out.read_bytes()[:4] == b"OggS"
        # on the orchestrator's machine (the database), the same bytes
        local = tmp_path / "local.ogg"
        proc = run_cli(
            "plays", "clip", str(play["id"]), "-o", str(local),
            home=tmp_path / "scan", env={"AIRTRACK_DATABASE_URL": db_url},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert local.read_bytes() == out.read_bytes()
        missing = run_cli("plays", "clip", "999999", "-o", str(tmp_path / "none.ogg"), env=remote)
        assert missing.returncode == 1 and "no clip of play 999999" in missing.stderr
        assert _scan(out, db_url, tmp_path / "scan") == [track]

        # a stretch that is not a play (as discovery asks for an unknown's airing)
        start = datetime.fromisoformat(play["started_at"]) + timedelta(seconds=0.5)
        _request(db_url, sid, start, start + timedelta(seconds=7.5))
        unknown_out = tmp_path / "unknown.ogg"

        def unknown_written() -> bool:
            proc = run_cli(
                "unknown", "clip", str(UNKNOWN), "--output", str(unknown_out), env=remote
            )
            assert proc.returncode in (0, 1), proc.stderr
            return proc.returncode == 0

        until(unknown_written, 60, "the requested clip")
        assert _scan(unknown_out, db_url, tmp_path / "scan") == [track]
        # both clips come from one ring: the request's half second is where it was
        # asked for. The connection's origin only gets earlier as blocks arrive with
        # less delay (0.1-s packets, a busy machine), which moves the requested clip
        # later by as much; a clock that slipped by a second would put it at -0.5 or 1.5
        assert 0.35 <= _lag_s(_audio(out), _audio(unknown_out)) <= 0.95
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
        station.__exit__(None, None, None)
