"""End-to-end chaos, the long scenarios (``make test-all``).

Two orchestrator replicas (the workers talk to the second; the first leads at the start),
3 workers (one behind the fault proxy), 4 built-in stations and a real icecast2 mount when
installed. Scenarios run one after another on the same system; each checks every invariant
of :mod:`tests.e2e.chaos_support` for its own observation window.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import chaos_support as cs

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def system(e2e_cache: Path) -> Iterator[cs.System]:
    with cs.running_system(cs.SystemConfig(replicas=2), e2e_cache) as s:
        yield s


def _check(res: cs.ScenarioResult) -> None:
    assert not res.problems(), f"{res.name}: {res.problems()}\n{res.row()}"
    assert res.verdict is not None and res.verdict.expected >= 2, res.row()


def test_leader_failover_with_a_dead_worker(system: cs.System) -> None:
    res = cs.run_leader_failover(system)
    _check(res)


def test_orchestrator_sigkill_and_restart(system: cs.System) -> None:
    _check(cs.run_orchestrator_restart(system))


def test_postgresql_restart(system: cs.System) -> None:
    _check(cs.run_pg_restart(system))


def test_two_minute_blackhole_between_worker_and_orchestrator(system: cs.System) -> None:
    res = cs.run_blackhole(system, 120.0)
    _check(res)
    assert res.stale_refused >= 1, "the cut-off worker's old-epoch plays were not refused"


def test_worker_joins_under_load(system: cs.System) -> None:
    _check(cs.run_worker_join(system))
