"""Run the real ``airtrack demo`` in a subprocess and find what it started (by pid)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from tests.support.processes import spawn


def start_demo(
    home: Path,
    *args: str,
    stdout: int | IO[bytes] = subprocess.PIPE,
    ports: tuple[int, int] | None = None,
) -> subprocess.Popen[bytes]:
    """``airtrack demo --home HOME ARGS``; ``ports``: (orchestrator, stations), else port 0
    for both (the demo reports the ports its servers got in ``demo.json``)."""
    orch_port, stations_port = ports or (0, 0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env.update(
        {
            "AIRTRACK_PORT": str(orch_port),
            "AIRTRACK_DEMO_STATIONS_PORT": str(stations_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "demo-stderr.log", "ab")  # noqa: SIM115 - closed once the child has it
    with log:
        return spawn(
            [sys.executable, "-m", "airtrack", "demo", "--home", str(home), *args],
            env=env,
            stdout=stdout,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # signals come from the test only, never from a terminal
        )


def wait_state(home: Path, proc: subprocess.Popen[bytes], timeout: float = 240) -> dict[str, Any]:
    """``demo.json`` once the demo has started everything; adds the PostgreSQL pid."""
    path = home / "demo.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"demo exited {proc.returncode}: {err_tail(home)}"
        if path.exists():
            state: dict[str, Any] = json.loads(path.read_text())
            pid_file = home / "pg" / "postmaster.pid"
            state["postgres"] = int(pid_file.read_text().split()[0])
            return state
        time.sleep(0.5)
    raise AssertionError(f"the demo did not start: {err_tail(home)}")


def err_tail(home: Path) -> str:
    path = home / "demo-stderr.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for PID 1, which may not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_gone(pids: dict[str, int], timeout: float = 60) -> dict[str, int]:
    """The pids still running after ``timeout`` (empty when all have exited)."""
    deadline = time.monotonic() + timeout
    left = dict(pids)
    while left and time.monotonic() < deadline:
        left = {n: p for n, p in left.items() if running(p)}
        time.sleep(0.3)
    return left


def kill_left(pids: dict[str, int]) -> None:
    """Clean up after a failed test: SIGKILL what is still running, by pid."""
    for pid in pids.values():
        if running(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
