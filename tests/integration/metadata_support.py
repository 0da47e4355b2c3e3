"""Shared by the metadata tests: tracks without audio, tagged files, CLI and orchestrator
subprocesses against the test's database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np

from airtrack.db import Database
from airtrack.demo.cluster import free_port

from .orch_support import ADMIN, WORKER
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
    """``airtrack ARGS`` in a subprocess on the test's database."""
    env = {
        **os.environ,
        "AIRTRACK_DATABASE_URL": db_url,
        "AIRTRACK_HOME": str(home),
        "AIRTRACK_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "airtrack", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


class OrchestratorProcess:
    """``airtrack orchestrator`` as a subprocess; stopped by pid."""

    def __init__(self, db_url: str, home: Path, **env: str) -> None:
        self.port = free_port()
        self.log = home.parent / f"orchestrator-{self.port}.log"
        home.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "airtrack", "orchestrator", "--port", str(self.port)],
            env={
                **os.environ,
                "AIRTRACK_DATABASE_URL": db_url,
                "AIRTRACK_HOME": str(home),
                "AIRTRACK_ADMIN_TOKEN": ADMIN,
                "AIRTRACK_WORKER_TOKEN": WORKER,
                "AIRTRACK_START_GRACE_S": "0",
                "AIRTRACK_LOG_JSON": "true",
                **env,
            },
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=30,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"orchestrator died: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("orchestrator did not become ready")

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._fh.close()
