"""The embedded PostgreSQL (the ``pgserver`` wheel) under ``AIRTRACK_HOME/pg``.

Several airtrack processes on one machine share one server: the first starts
it, the others attach, and the last one to leave stops it. pgserver keeps the
list of attached processes in ``pg/.handle_pids.json``; a process killed with
SIGKILL never removes itself, so before attaching we drop pids that no longer
run (otherwise the server would never stop). A ``postmaster.pid`` left by a
crashed server is recovered by PostgreSQL itself once no process holds it.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from airtrack.errors import DatabaseUnavailable
from airtrack.logging import get_logger
from airtrack.processes import pid_alive

log = get_logger("airtrack.db.embedded")

_HANDLES = ".handle_pids.json"


@contextmanager
def _home_lock(pg_dir: Path) -> Iterator[None]:
    """Serialise start/attach/prune among airtrack processes sharing one home."""
    lock_path = pg_dir.parent / "pg.lock"
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def prune_dead_handles(pg_dir: Path) -> list[int]:
    """Remove pids of processes that no longer run from pgserver's handle list."""
    path = pg_dir / _HANDLES
    if not path.exists():
        return []
    try:
        pids = [int(p) for p in json.loads(path.read_text() or "[]")]
    except (ValueError, OSError):
        pids = []
    alive = [p for p in pids if pid_alive(p)]
    dead = [p for p in pids if p not in alive]
    if dead:
        path.write_text(json.dumps(alive))
        log.info("embedded.pruned_stale_handles", pids=dead)
    return dead


def _import_pgserver() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        import pgserver._commands

    return pgserver


def ensure_server(home: Path, *, stop_on_exit: bool = True) -> str:
    """Start or attach to the embedded server under ``home/pg``; return its URL.

    With ``stop_on_exit`` the server stops when the last attached process exits.
    """
    pg_dir = (home / "pg").resolve()
    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    pgserver = _import_pgserver()
    with _home_lock(pg_dir):
        pg_dir.mkdir(exist_ok=True)
        prune_dead_handles(pg_dir)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server = pgserver.get_server(pg_dir, cleanup_mode="stop" if stop_on_exit else None)
        except Exception as exc:  # pgserver raises bare subprocess/assert errors
            log_path = pg_dir / "log"
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise DatabaseUnavailable(
                f"could not start the embedded PostgreSQL in {pg_dir}: {exc}; log tail: {tail}"
            ) from exc
        if stop_on_exit:
            # Runs before pgserver's own exit hook (atexit is last-in, first-out): a handle
            # left by a process killed with SIGKILL (the demo itself, say) would otherwise
            # make every survivor think it is not the last, and PostgreSQL would outlive them.
            atexit.register(_prune_at_exit, pg_dir)
    uri: str = server.get_uri()
    log.info("embedded.ready", pgdata=str(pg_dir), pid=server.get_pid())
    return uri


def _prune_at_exit(pg_dir: Path) -> None:
    try:
        with _home_lock(pg_dir):
            prune_dead_handles(pg_dir)
    except OSError:
        pass


def stop_server(home: Path) -> None:
    """Stop the embedded server now (``pg_ctl stop -m fast``): tests and operators."""
    pgserver = _import_pgserver()
    pg_ctl = pgserver._commands.pg_ctl

    pg_dir = (home / "pg").resolve()
    server = pgserver.get_server(pg_dir)
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pg_dir, user=server.system_user, timeout=30)
    log.info("embedded.stopped", pgdata=str(pg_dir))


def start_server(home: Path) -> str:
    """Start the embedded server again after :func:`stop_server`; return its URL."""
    pgserver = _import_pgserver()
    pg_dir = (home / "pg").resolve()
    server = pgserver.get_server(pg_dir)
    with _home_lock(pg_dir), server._lock:
        server.ensure_postgres_running()
    uri: str = server.get_uri()
    log.info("embedded.started", pgdata=str(pg_dir))
    return uri
