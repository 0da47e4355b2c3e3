"""A worker's home, with real `airtrack worker` processes: one process per home and id,
and what a stop does with the plays still queued while the orchestrator was unreachable.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airtrack.demo.cluster import free_port
from tests.integration.test_worker_e2e_support import until

pytestmark = pytest.mark.e2e


def _worker(home: Path, url: str, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env.update(
        AIRTRACK_HOME=str(home),
        AIRTRACK_LOG_JSON="true",
        AIRTRACK_WORKER_TOKEN="t" * 16,
        PYTHONUNBUFFERED="1",
        **extra,
    )
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "airtrack", "worker", "--orchestrator", url],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_a_second_worker_on_the_same_home_exits_at_once_naming_the_holder(
    tmp_path: Path,
) -> None:
    """Two workers under one home would share one id: the second must refuse to start."""
    home = tmp_path / "home"
    url = f"http://127.0.0.1:{free_port()}"  # nobody there: the first runs in local mode
    first = _worker(home, url, tmp_path / "first.log")
    procs = [first]
    try:
        locks = until(
            lambda: [p for p in home.glob("worker-*/worker.lock") if p.read_text().strip()],
            60,
            "the first worker holds its home",
        )
        assert locks[0].read_text().strip() == str(first.pid)

        second = _worker(home, url, tmp_path / "second.log")
        procs.append(second)
        rc = second.wait(timeout=60)
        said = (tmp_path / "second.log").read_text()
        assert rc != 0, said
        assert f"in use by process {first.pid}" in said, said
        assert first.poll() is None, "the first worker runs on"
        assert locks[0].read_text().strip() == str(first.pid)

        # Once the first has stopped, the home is free again (the kernel dropped the lock).
        _stop(first)
        third = _worker(home, url, tmp_path / "third.log")
        procs.append(third)
        until(
            lambda: locks[0].read_text().strip() == str(third.pid),
            60,
            "a new worker takes the freed home",
        )
        assert third.poll() is None
    finally:
        for p in procs:
            _stop(p)
