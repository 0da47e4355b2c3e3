"""What an operator meets on day one, as real ``airtrack`` subprocesses on a real database:
``db migrate`` says what it did and refuses a newer schema (an orchestrator too),
``status`` finds the orchestrator where its environment file says it listens, output
through a pipe is never cut, and ``--help`` shows the defaults."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from airtrack.db import Database
from airtrack.db.migrations import latest_version
from airtrack.demo.cluster import free_port
from airtrack.ops.health import run_health
from airtrack.settings import describe_settings, load_settings
from tests.support.processes import spawn

LONG_HOOK = "http://hooks.example.com:8443/a/rather/long/path/for/this/receiver/endpoint"


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRTRACK_", "COLUMNS"))}
    return {**base, "COLUMNS": "80", **extra}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # stdout is a pipe here, as under `| grep` or in a cron job
    return subprocess.run(
        [sys.executable, "-m", "airtrack", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_migrate_prints_the_versions_it_applied(empty_db_url: str, tmp_path: Path) -> None:
    env = _env(AIRTRACK_DATABASE_URL=empty_db_url, AIRTRACK_HOME=str(tmp_path / "h"))
    n = latest_version()
    first = _cli(env, "db", "migrate")
    assert first.returncode == 0, first.stderr
    listed = ", ".join(f"{v:04d}" for v in range(1, n + 1))
    assert f"applied {n} migrations: {listed}" in first.stdout, first.stdout
    assert "up to date" not in first.stdout
    again = _cli(env, "db", "migrate")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"schema up to date (version {n})"


@contextmanager
def _orchestrator(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as fh:
        proc = spawn(
            [sys.executable, "-m", "airtrack", "orchestrator"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


def test_a_schema_newer_than_this_build_is_refused(db_url: str, tmp_path: Path) -> None:
    """A rollback to an older wheel: the newer one left a migration this build lacks."""
    future = latest_version() + 1
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (%s, 'from_the_future')",
            (future,),
        )
    env = _env(
        AIRTRACK_DATABASE_URL=db_url,
        AIRTRACK_HOME=str(tmp_path / "h"),
        AIRTRACK_PORT=str(free_port()),
    )
    r = _cli(env, "db", "migrate")
    assert r.returncode == 1, r.stdout
    assert "up to date" not in r.stdout + r.stderr
    for said in (f"version {future}", f"up to {latest_version()}", "restore the backup"):
        assert said in r.stderr, r.stderr

    log = tmp_path / "orchestrator.log"
    with _orchestrator(env, log) as proc:
        code = proc.wait(timeout=60)  # it refuses at once instead of serving
    assert code != 0
    text = log.read_text()
    assert f"version {future}" in text and "newer version" in text, text
    assert "run `airtrack db migrate`" not in text
    with psycopg.connect(db_url) as conn:  # nothing was changed
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert max(versions) == future and len(versions) == future

    # an older replica still running (it started before the upgrade): its health check
    # names the versions and the way back, never `airtrack db migrate`
    async def health() -> dict[str, Any]:
        async with Database(db_url, load_settings(home=tmp_path / "h")) as db:
            return await run_health(db, db.settings)

    (check,) = [c for c in asyncio.run(health())["checks"] if c["name"] == "migrations"]
    assert not check["ok"]
    assert f"version {future}" in check["detail"] and "restore the backup" in check["detail"]
    assert "db migrate" not in check["detail"]


def test_status_finds_the_orchestrator_on_its_configured_port(db_url: str, tmp_path: Path) -> None:
    """orchestrator.env sets AIRTRACK_PORT and no URL: status looks on that port."""
    port = free_port()
    env = _env(
        AIRTRACK_DATABASE_URL=db_url,
        AIRTRACK_HOME=str(tmp_path / "h"),
        AIRTRACK_PORT=str(port),
        AIRTRACK_ADMIN_TOKEN="a" * 40,
        AIRTRACK_WORKER_TOKEN="w" * 40,
    )
    with _orchestrator(env, tmp_path / "orchestrator.log") as proc:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "orchestrator.log").read_text()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the orchestrator did not start"
            time.sleep(0.2)
        r = _cli(env, "status")
    assert r.returncode == 0, r.stderr
    assert f"orchestrator: running at http://127.0.0.1:{port}" in r.stdout, r.stdout


def test_output_through_a_pipe_is_never_cut(db_url: str, tmp_path: Path) -> None:
    env = _env(AIRTRACK_DATABASE_URL=db_url, AIRTRACK_HOME=str(tmp_path / "h"))
    r = _cli(env, "settings")
    assert r.returncode == 0, r.stderr
    for name, _default, meaning in describe_settings():
        line = next((ln for ln in r.stdout.splitlines() if f" {name} " in ln), None)
        assert line is not None, f"{name} is cut: {r.stdout[:2000]}"
        assert meaning in line, f"the meaning of {name} is cut or wrapped: {line}"

    added = _cli(env, "webhooks", "add", LONG_HOOK, "--events", "play.started,play.ended")
    assert added.returncode == 0, added.stderr
    assert f"added webhook #1 {LONG_HOOK}" in added.stdout.splitlines()
    r = _cli(env, "webhooks", "list")
    assert r.returncode == 0, r.stderr
    assert LONG_HOOK in r.stdout and "play.ended,play.started" in r.stdout, r.stdout


def test_orchestrator_help_shows_its_defaults() -> None:
    r = _cli(_env(), "orchestrator", "--help")
    assert r.returncode == 0, r.stderr
    assert "8750" in r.stdout and "127.0.0.1" in r.stdout, r.stdout
