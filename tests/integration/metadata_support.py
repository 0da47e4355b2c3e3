"""Shared by the metadata tests: tracks without audio, tagged files, the CLI (in this
process) and orchestrator subprocesses against the test's database."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np

from airtrack.db import Database
from tests.support.cli import invoke_cli
from tests.support.orchestrator import Replica

from .orch_support import ADMIN
from .test_catalog_support import SR


async def insert_track(db: Database, source: str, title: str = "Song", **cols: Any) -> int:
    """A catalog row with no prints (metadata tests need no audio)."""
    names = ["title", "artist", "source", "duration_s", "content_sha256", *cols]
    values = [title, "Artist", source, 180.0, uuid.uuid4().hex, *cols.values()]

    async def fn(tx: Any) -> int:
        rows = await tx.execute_raw(
            f"INSERT INTO tracks ({', '.join(names)}) "
            f"VALUES ({', '.join(['%s'] * len(names))}) RETURNING id",
            values,
        )
        return int(rows[0]["id"])

    return int(await db.run("test_insert_track", fn))


def write_m4a(path: Path, audio: np.ndarray[Any, Any]) -> Path:
    """AAC in an MP4 container (the demo encoder has no M4A)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as out:
        stream: Any = out.add_stream("aac", rate=44100, layout="mono")
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=44100)
        frame = av.AudioFrame.from_ndarray(
            np.asarray(audio, dtype=np.float32)[None, :], format="flt", layout="mono"
        )
        frame.sample_rate = SR
        for f in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return path


def cli(db_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``airtrack ARGS`` on the test's database, run in this process (the commands' logic
    is under test here, not the interpreter's start)."""
    env = {"AIRTRACK_DATABASE_URL": db_url, "AIRTRACK_LOG_LEVEL": "WARNING", "COLUMNS": "200"}
    return invoke_cli(*args, home=home, env=env)


class OrchestratorProcess(Replica):
    """``airtrack orchestrator`` as a subprocess with default timers, on port 0; stopped by
    pid. ``http``: an admin client of its API."""

    def __init__(self, db_url: str, home: Path, **env: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        super().__init__(
            db_url,
            home,
            home.parent / f"orchestrator-{home.name}.log",
            {"AIRTRACK_START_GRACE_S": "0", **env},
            fast_timers=False,
        )
        self._http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=f"{self.url}/api/v1",
                headers={"Authorization": f"Bearer {ADMIN}"},
                timeout=30,
            )
        return self._http

    def wait_ready(self, timeout: float = 60) -> None:
        super().wait_ready(timeout)

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
        super().stop()
