"""Build something once per test run, shared by every pytest-xdist worker.

Each xdist worker is its own process with its own session fixtures: without this, the
demo catalog (seconds of CPU per song) would be rendered once per worker.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest


def shared_dir(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """``<run's tmp root>/name``, filled by ``build(path)`` by the first worker to ask;
    the others wait for it (a file lock) and reuse it."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by the workers of this run: popen-gw0, popen-gw1, ...
    folder = base / name
    done = base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            build(folder)
            done.touch()
    return folder
