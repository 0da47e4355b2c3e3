"""``kill -9`` of ``airtrack catalog add`` takes its whole process pool with it.

The pool (forkserver, resource tracker, fingerprinting workers) used to outlive a killed
parent: four kills left 15 processes and ~1.3 GB behind. Descendants are found and
checked by pid through /proc (pid + start time, so a reused pid is not mistaken for one
of them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_catalog_support import catalog_song, write
from tests.support.processes import spawn

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot)


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a live process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses
    return int(fields[1]), fields[0], int(fields[19])


def _descendants(root: int) -> set[Proc]:
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            children.setdefault(st[0], []).append(int(entry))
            starts[int(entry)] = st[2]
    found: set[Proc] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add((child, starts[child]))
            todo.append(child)
    return found


def _running(proc: Proc) -> bool:
    st = _stat(proc[0])
    # a zombie has exited (only its parent's wait is missing); another start time: reused
    return st is not None and st[1] != "Z" and st[2] == proc[1]


def test_kill_9_of_catalog_add_leaves_no_pool_process(tmp_path: Path, db_url: str) -> None:
    lib = tmp_path / "lib"
    for i in range(8):  # distinct songs (no dedupe) long enough to keep two workers busy
        write(lib / f"song{i}.wav", catalog_song(i, 90.0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env |= {"AIRTRACK_DATABASE_URL": db_url, "AIRTRACK_HOME": str(tmp_path / "home")}
    main = spawn(
        [sys.executable, "-m", "airtrack", "catalog", "add", "--jobs", "2", str(lib)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen: set[Proc] = set()
    try:
        # forkserver + resource tracker + 2 workers: the pool is up and fingerprinting
        end = time.monotonic() + 120
        while len(seen) < 4 and time.monotonic() < end and main.poll() is None:
            seen |= _descendants(main.pid)
            time.sleep(0.05)
        assert len(seen) >= 4, f"the pool never started: {seen}"
        seen |= _descendants(main.pid)
        main.send_signal(signal.SIGKILL)
        main.wait(timeout=10)
        end = time.monotonic() + 5
        while any(_running(p) for p in seen) and time.monotonic() < end:
            time.sleep(0.1)
        left = sorted(p for p in seen if _running(p))
        assert not left, f"still running after the parent's SIGKILL: {left}"
    finally:
        for pid, start in seen:  # never leave them to the next test
            if _running((pid, start)):
                os.kill(pid, signal.SIGKILL)
        if main.poll() is None:
            main.kill()
            main.wait()
