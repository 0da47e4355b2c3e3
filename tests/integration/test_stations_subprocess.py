"""`python -m airtrack.demo.icecast` as a subprocess: ready line, streams, clean stop by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.support.processes import spawn


def start_server(*extra: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [sys.executable, "-m", "airtrack.demo.icecast", "--port", "0", "--stations", "2"]
    cmd += ["--seed", "5", "--speed", "4", "--catalog-size", "3", "--max-song-s", "30", *extra]
    proc = spawn(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("{"):
            info = json.loads(line)
            if info.get("event") == "ready":
                return proc, info
    proc.kill()
    proc.wait()
    proc.stdout.close()
    raise AssertionError(f"no ready line; got {lines!r}")


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]
)
def test_subprocess_serves_and_stops_cleanly(sig: signal.Signals) -> None:
    proc, info = start_server()
    try:
        assert info["pid"] == proc.pid
        assert info["base_url"] == f"http://127.0.0.1:{info['port']}"
        assert sorted(info["mounts"]) == ["station1", "station2"]
        assert set(info["faults"]) == {"404", "html", "truncated", "silence", "stall", "redirect"}
        hls_dir = Path(info["hls_dir"])
        assert hls_dir.is_dir()
        with av.open(info["mounts"]["station2"], timeout=10) as c:
            n = 0
            for f in c.decode(audio=0):
                n += f.samples
                if n > 22050:
                    break
        assert n > 22050
        # A listener still connected at shutdown must not keep the server alive.
        with httpx.stream("GET", info["mounts"]["station1"], timeout=10) as r:
            assert r.status_code == 200
            next(r.iter_raw())
            os.kill(proc.pid, sig)
            assert proc.wait(timeout=20) == 0
        assert not hls_dir.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
