"""The embedded PostgreSQL is shared safely by several processes, and recovers a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support.processes import spawn

ATTACH = """
import sys, time, psycopg
from collections.abc import Iterator
from pathlib import Path
from airtrack.db.embedded import ensure_server
url = ensure_server(Path(sys.argv[1]))
with psycopg.connect(url) as c:
    c.execute("CREATE TABLE IF NOT EXISTS hits (pid int)")
    c.execute("INSERT INTO hits VALUES (%s)", (__import__('os').getpid(),))
    c.commit()
print("URL", url, flush=True)
time.sleep(float(sys.argv[2]))
"""


_procs: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _reap() -> Iterator[None]:
    yield
    while _procs:
        p = _procs.pop()
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
        if p.stdout:
            p.stdout.close()


def _start(home: Path, hold_s: float) -> subprocess.Popen[str]:
    p = spawn(
        [sys.executable, "-c", ATTACH, str(home), str(hold_s)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    _procs.append(p)
    return p


def _url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("URL "):
            return line.split(" ", 1)[1].strip()
    return ""


def _postmaster_pid(home: Path) -> int | None:
    pid_file = home / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return None
    return int(pid_file.read_text().splitlines()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_second_process_attaches_and_last_one_stops_server(private_home: Path) -> None:
    home = private_home
    first = _start(home, 30)
    url1 = _url(first)
    pm = _postmaster_pid(home)
    assert url1 and pm and _alive(pm)
    second = _start(home, 1)
    url2 = _url(second)
    assert url2 == url1, "the second process attaches to the same server"
    assert second.wait(timeout=30) == 0
    assert _postmaster_pid(home) == pm and _alive(pm), "a leaving attacher must not stop it"
    with psycopg.connect(url1) as c:
        assert c.execute("SELECT count(*) FROM hits").fetchone() == (2,)
    first.send_signal(signal.SIGTERM)  # atexit does not run on SIGTERM by default
    first.wait(timeout=30)
    # A crashed holder (SIGTERM without atexit is like SIGKILL): its pid is stale now.
    handles = json.loads((home / "pg" / ".handle_pids.json").read_text())
    assert first.pid in handles
    third = _start(home, 0)
    assert _url(third) == url1
    assert third.wait(timeout=30) == 0
    # the third pruned the stale pid and, being the last, stopped the server
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(pm):
        time.sleep(0.2)
    assert not _alive(pm), "the last process to leave stops the server"
    assert json.loads((home / "pg" / ".handle_pids.json").read_text()) == []


def test_server_killed_hard_is_recovered(private_home: Path) -> None:
    home = private_home
    holder = _start(home, 0)
    assert _url(holder)
    holder.wait(timeout=30)
    # start one that stays, kill -9 the postmaster under it, then attach again
    keeper = _start(home, 30)
    assert _url(keeper)
    pm = _postmaster_pid(home)
    assert pm is not None
    os.kill(pm, signal.SIGKILL)
    keeper.kill()
    keeper.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pm):
        time.sleep(0.1)
    again = _start(home, 0)
    url = _url(again)
    assert url
    assert again.wait(timeout=30) == 0
    new_pm = _postmaster_pid(home)
    assert new_pm != pm
