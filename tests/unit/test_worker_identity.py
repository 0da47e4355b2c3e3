"""A worker's id without AIRTRACK_WORKER_ID: ``<hostname>-<suffix>``, the suffix kept under
its home, so that a restart comes back under the same id (and keeps its streams)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from airtrack.settings import load_settings
from airtrack.worker.identity import resolve_worker_id


def _resolve(home: str, start: object, out: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    out.put(resolve_worker_id(load_settings(home=Path(home), worker_id=None)))  # type: ignore[attr-defined]


def test_the_suffix_is_kept_and_a_damaged_one_replaced(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, worker_id=None)
    first = resolve_worker_id(settings)
    assert resolve_worker_id(settings) == first
    (tmp_path / "worker-suffix").write_text("not a suffix\n")
    again = resolve_worker_id(settings)
    assert again != first and resolve_worker_id(settings) == again
    assert not list(tmp_path.glob("*.tmp"))


def test_processes_first_started_at_once_on_one_home_agree(tmp_path: Path) -> None:
    """Each used to write its own suffix: both ran under different ids, and at their next
    start one id's outbox was named by no file."""
    ctx = multiprocessing.get_context("fork")
    for attempt in range(5):
        home = tmp_path / f"home-{attempt}"
        start, out = ctx.Barrier(8), ctx.Queue()
        procs = [ctx.Process(target=_resolve, args=(str(home), start, out)) for _ in range(8)]
        for p in procs:
            p.start()
        try:
            ids = {out.get(timeout=30) for _ in procs}
        finally:
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():
                    p.kill()
        assert len(ids) == 1, ids
        assert resolve_worker_id(load_settings(home=home, worker_id=None)) in ids
