"""Every process a test starts dies with the test run, whatever ends it.

- :func:`spawn` starts a child in its own process group (signals typed at a terminal
  never reach it; the whole group can be killed) that gets SIGKILL from the kernel when
  the thread that started it exits (``PR_SET_PDEATHSIG``): a pytest killed with SIGKILL,
  or by a timeout that calls ``os._exit``, leaves nothing behind. SIGKILL rather than
  SIGTERM because a child that a test froze with SIGSTOP ignores SIGTERM until woken.
- :func:`new_cluster` is :class:`airtrack.demo.cluster.Cluster` with the same death signal.
- :func:`kill_all` kills what is still running: the root conftest calls it when the
  session ends, and it runs at interpreter exit.

Start processes from the test's own thread (the death signal follows the starting
thread: a child started from a short-lived helper thread dies with that thread).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

from airtrack.demo.cluster import Cluster
from airtrack.processes import die_with_parent

_children: dict[int, subprocess.Popen[Any]] = {}
_clusters: weakref.WeakSet[Cluster] = weakref.WeakSet()

#: The ``preexec_fn`` of every child a test starts.
preexec = functools.partial(die_with_parent, signal.SIGKILL)


def spawn(argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **kw)`` in a new process group that dies with the run."""
    kw.setdefault("start_new_session", True)
    kw.setdefault("stdin", subprocess.DEVNULL)
    proc: subprocess.Popen[Any] = subprocess.Popen(argv, preexec_fn=preexec, **kw)
    _children[proc.pid] = proc
    return proc


def run(argv: list[str], *, timeout: float, **kw: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run`` for a child that runs to completion, under :func:`spawn`'s rules."""
    kw.setdefault("start_new_session", True)
    if kw.get("input") is None:
        kw.pop("input", None)
        kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, preexec_fn=preexec, timeout=timeout, **kw)


def stop(proc: subprocess.Popen[Any], timeout: float = 15.0) -> int:
    """SIGTERM (after SIGCONT: a stopped process cannot exit), wait, then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.wait(timeout=10)
    _children.pop(proc.pid, None)
    return proc.returncode


def new_cluster(home: Path, *, env: dict[str, str] | None = None) -> Cluster:
    """A :class:`Cluster` whose processes die with the run (close it as usual)."""
    made = Cluster(home, env=env, die_with_parent=True, death_signal=signal.SIGKILL)
    _clusters.add(made)
    return made


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def kill_all() -> list[int]:
    """SIGKILL every child still running (its whole process group); returns their pids."""
    popens = list(_children.values())
    for made in list(_clusters):
        popens += [p.popen for p in made.procs.values() if p.popen is not None]
    killed = []
    for proc in popens:
        if proc.poll() is None:
            _kill_group(proc.pid)
            killed.append(proc.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
    _children.clear()
    return killed


atexit.register(kill_all)


def spawn_worker(
    orchestrator: str, tmp: Path, worker_id: str, *, capacity: int = 2, **settings: str
) -> subprocess.Popen[Any]:
    """An ``airtrack worker`` process for ``orchestrator``: its home ``tmp/worker``, JSON
    logs to ``tmp/worker.log``, ``settings`` as ``AIRTRACK_<NAME>`` variables."""
    from tests.support.tokens import WORKER

    env = {
        **os.environ,
        "AIRTRACK_HOME": str(tmp / "worker"),
        "AIRTRACK_WORKER_TOKEN": WORKER,
        "AIRTRACK_LOG_JSON": "true",
        **{f"AIRTRACK_{k.upper()}": v for k, v in settings.items()},
    }
    with (tmp / "worker.log").open("w") as fh:
        return spawn(
            [sys.executable, "-m", "airtrack", "worker", "--orchestrator", orchestrator,
             "--id", worker_id, "--capacity", str(capacity)],
            env=env, stdout=fh, stderr=subprocess.STDOUT,
        )  # fmt: skip
