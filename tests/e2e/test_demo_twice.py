"""``airtrack demo`` run twice in one home logs new plays the second time.

The real demo (its twelve generated songs, four stations, three workers), stopped with
Ctrl-C after its first play, then started again: same ports, the streams point at the
second run's station server, and plays that started during the second run are logged
within two minutes. Slow (the first run renders the songs): ``make test-all``.
tests/integration/test_demo_restart.py covers the mechanism in the default suite.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from airtrack.demo.cluster import free_port
from tests.e2e.demo_support import err_tail, kill_left, start_demo, wait_gone, wait_state

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture
def home(private_home: Path) -> Iterator[Path]:
    yield private_home


def _plays_since(state: dict[str, Any], token: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{state['orchestrator']}/api/v1/plays",
        params={"since": state["started_at"], "limit": 50},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    r.raise_for_status()
    plays: list[dict[str, Any]] = r.json()
    return plays


def _run_until_a_play(home: Path, ports: tuple[int, int], within_s: float) -> dict[str, Any]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "demo-stdout.log", "ab") as out:  # a pipe nobody reads would fill up
        proc = start_demo(home, ports=ports, stdout=out)
    pids: dict[str, int] = {}
    try:
        state = wait_state(home, proc, timeout=600)
        pids = {**state["children"], "postgres": state["postgres"]}
        token = json.loads((home / "tokens.json").read_text())["admin"]
        started = datetime.fromisoformat(state["started_at"])
        deadline = time.monotonic() + within_s
        plays: list[dict[str, Any]] = []
        while not plays and time.monotonic() < deadline:
            time.sleep(2)
            plays = _plays_since(state, token)
        assert plays, f"no play within {within_s} s of this run's start: {err_tail(home)}"
        assert all(datetime.fromisoformat(p["started_at"]) >= started for p in plays)
        streams = httpx.get(
            f"{state['orchestrator']}/api/v1/streams",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        state["stream_urls"] = sorted(s["url"] for s in streams)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
        assert not wait_gone(pids, timeout=60)
        return state
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        kill_left(pids)


def test_demo_twice_in_one_home(home: Path) -> None:
    ports = (free_port(), free_port())
    first = _run_until_a_play(home, ports, within_s=300)
    # The second run: the songs exist, so it starts as a user's later `make demo` does.
    second = _run_until_a_play(home, ports, within_s=120)
    assert second["orchestrator"] == first["orchestrator"] == f"http://127.0.0.1:{ports[0]}"
    assert second["stations"] == first["stations"] == f"http://127.0.0.1:{ports[1]}"
    assert all(u.startswith(second["stations"]) for u in second["stream_urls"])
