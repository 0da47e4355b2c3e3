"""The real ``airtrack demo``, stopped every way a user stops it.

Whatever stops the demo — Ctrl-C while its stdout is a pipe nobody reads any more, SIGTERM,
a hang-up, or kill -9 of the demo itself — every process it started (station server,
orchestrator, workers) and the embedded PostgreSQL are gone afterwards, checked by pid.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from airtrack.demo.catalog import write_catalog
from tests.e2e.demo_support import err_tail, kill_left, start_demo, wait_gone, wait_state
from tests.support.shared import shared_dir

pytestmark = pytest.mark.e2e

SMALL = ("--stations", "1", "--workers", "1")


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two songs for the catalog: the demo's own twelve take ~36 s to render."""
    return shared_dir(tmp_path_factory, "demo-music", lambda f: write_catalog(f, 2, "mp3"))


@pytest.fixture
def home(private_home: Path) -> Iterator[Path]:
    # Not under pytest's tmp root: that is private to root, and PostgreSQL runs as its own user.
    yield private_home


def _stop_and_check(home: Path, music: Path, how: str) -> None:
    proc = start_demo(home, "--music", str(music), *SMALL)
    state: dict[str, object] = {}
    pids: dict[str, int] = {}
    try:
        state = wait_state(home, proc)
        pids = {**state["children"], "postgres": state["postgres"]}  # type: ignore[dict-item]
        assert set(pids) >= {"stations", "orchestrator", "demo-worker-1", "postgres"}
        assert state["pid"] == proc.pid
        assert proc.stdout is not None
        if how == "ctrl-c, stdout a closed pipe":
            # through a pipe the demo still shows what airs and who works, early.
            seen = _read_until(proc.stdout, ("on air: station1: ", "worker: demo-worker-1: "), 60)
            assert seen["on air: station1: "], seen
            proc.stdout.close()  # `make demo | tee log`: Ctrl-C kills tee first
            proc.send_signal(signal.SIGINT)
        elif how == "kill -9":
            proc.kill()
        else:
            proc.send_signal(getattr(signal, how))
        code = proc.wait(timeout=90)
        if how != "kill -9":
            assert code in (129, 130, 141, 143), err_tail(home)
            assert "Traceback" not in err_tail(home), err_tail(home)
        left = wait_gone(pids, timeout=60)
        assert not left, f"still running after the demo stopped ({how}): {left}"
        if how != "kill -9":
            assert not (home / "demo.json").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        kill_left(pids)


def _read_until(stream: IO[bytes], prefixes: tuple[str, ...], timeout: float) -> dict[str, str]:
    """The first line starting with each prefix, read within ``timeout`` seconds."""
    seen = dict.fromkeys(prefixes, "")
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    buf = b""
    while not all(seen.values()) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        for line in buf.decode(errors="replace").splitlines():
            for p in prefixes:
                if line.startswith(p) and not seen[p]:
                    seen[p] = line
    return seen


@pytest.mark.parametrize("how", ["ctrl-c, stdout a closed pipe", "kill -9"])
def test_every_process_dies_with_the_demo(home: Path, music: Path, how: str) -> None:
    _stop_and_check(home, music, how)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP"])
def test_every_process_dies_with_the_demo_on_other_signals(
    home: Path, music: Path, how: str
) -> None:
    _stop_and_check(home, music, how)


def test_demo_keeps_its_own_home(tmp_path: Path) -> None:
    """Without --home or AIRTRACK_HOME the demo does not use the real default home."""
    from airtrack.settings import default_demo_home, load_settings

    env_home = os.environ.pop("AIRTRACK_HOME", None)
    try:
        assert default_demo_home() != load_settings().home
    finally:
        if env_home is not None:
            os.environ["AIRTRACK_HOME"] = env_home
