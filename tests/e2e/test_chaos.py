"""End-to-end chaos, the short cut of the slow tier (``make test-all``; each scenario
listens about 80 s in real time around its fault).

One real system (embedded PostgreSQL, 4 built-in stations + a real icecast2 mount when
installed, one orchestrator, 3 workers, one of them behind the fault proxy); a worker is
SIGKILLed, then another is frozen past its lease and woken up. After each fault every
invariant of :mod:`tests.e2e.chaos_support` is checked against the stations' ground truth.
The other scenarios are in ``test_chaos_slow.py``. The default tier shows the same
behaviours with shorter real-time windows: a worker SIGKILLed mid-batch replays its outbox
and a worker cut off past its lease is fenced and drops its stale plays
(``tests/integration/test_worker_e2e_faults.py``); leases moving streams away from a
silent worker
(``tests/integration/test_orchestrator.py::test_crash_moves_streams_after_lease``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import chaos_support as cs
from tests.e2e.icecast2_support import APT, MISSING

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def system(e2e_cache: Path) -> Iterator[cs.System]:
    with cs.running_system(cs.SystemConfig(replicas=1), e2e_cache) as s:
        yield s


def _check(res: cs.ScenarioResult) -> None:
    assert not res.problems(), f"{res.name}: {res.problems()}\n{res.row()}"
    assert res.verdict is not None and res.verdict.expected >= 2, res.row()


def test_worker_sigkill_streams_move_nothing_lost(system: cs.System) -> None:
    res = cs.run_worker_sigkill(system)
    _check(res)
    assert any(a["kind"] == "peer.failures" for a in res.alerts), res.alerts


def test_zombie_worker_wakes_up_and_is_fenced(system: cs.System) -> None:
    res = cs.run_worker_zombie(system)
    _check(res)


def test_real_icecast2_stream_recognised(system: cs.System) -> None:
    if MISSING:
        pytest.skip(f"{' and '.join(MISSING)} not installed ({APT})")
    v = cs.evaluate(system, system.started_at, cs.now() - cs.FLUSH_S, streams={"ice-live"})
    assert v.expected >= 2 and not v.lost and not v.duplicated, (v.expected, v.lost, v.duplicated)
