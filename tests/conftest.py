"""Shared fixtures: one real PostgreSQL per test process, a fresh database per test.

With ``AIRTRACK_TEST_DATABASE_URL`` set, tests use that server (any PostgreSQL
≥ 14, a role allowed to create databases); otherwise each test process (each
pytest-xdist worker, ``-n 2``) starts its own embedded server (pgserver, Unix
socket only: nothing to collide on) in a temporary home. Each test that asks for
``db_url`` gets its own database cloned from a migrated template, so tests are
isolated; on a shared external server the template is one per xdist worker.

Every process a test starts dies with the run (:mod:`tests.support.processes`):
``_kill_leftovers`` kills what a test left running when the session ends.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings

from airtrack.db import Database, ensure_server, migrate
from airtrack.logging import configure_logging
from airtrack.settings import Settings, load_settings
from tests.support.orchestrator import Replica
from tests.support.processes import kill_all

#: The migrated template of this test process (``airtrack_template_gw0`` under xdist).
TEMPLATE = "airtrack_template" + (
    f"_{os.environ['PYTEST_XDIST_WORKER']}" if os.environ.get("PYTEST_XDIST_WORKER") else ""
)

configure_logging("INFO", json=True)

# Properties are checked for what they compute, never for how fast: one example that took
# a second on a busy machine (a first import, a page-cache miss) is not a failure.
hypothesis_settings.register_profile("airtrack", deadline=None)
hypothesis_settings.load_profile("airtrack")


def _with_db(url: str, dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})


@pytest.fixture(scope="session", autouse=True)
def _kill_leftovers() -> Iterator[None]:
    """Processes a failed or interrupted test left running die with the session."""
    yield
    kill_all()


@pytest.fixture(scope="session")
def pg_template_name() -> str:
    """The name of the migrated template database (``CREATE DATABASE x TEMPLATE name``)."""
    return TEMPLATE


@pytest.fixture(scope="session")
def pg_home() -> Iterator[Path]:
    # Not under pytest's tmp_path root: pytest prunes old numbered dirs there, which would
    # pull the data directory from under a server that a concurrent run still uses.
    home = Path(tempfile.mkdtemp(prefix="airtrack-test-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def private_home() -> Iterator[Path]:
    """A home for a test's own embedded server, outside pytest's pruned tmp root."""
    home = Path(tempfile.mkdtemp(prefix="airtrack-private-home-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url(pg_home: Path) -> str:
    external = os.environ.get("AIRTRACK_TEST_DATABASE_URL")
    if external:
        return external
    return ensure_server(pg_home)


@pytest.fixture(scope="session")
def pg_template(pg_server_url: str, pg_home: Path) -> str:
    """A migrated template database; tests clone it."""
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    url = _with_db(pg_server_url, TEMPLATE)

    async def run() -> None:
        db = Database(url, load_settings(home=pg_home), min_size=0, max_size=2)
        await db.open()
        try:
            await migrate(db)
        finally:
            await db.close()

    asyncio.run(run())
    return url


@pytest.fixture
def db_url(pg_server_url: str, pg_template: str) -> Iterator[str]:
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield _with_db(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def empty_db_url(pg_server_url: str) -> Iterator[str]:
    name = "e_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield _with_db(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    return load_settings(
        home=tmp_path / "home",
        db_retry_base_s=0.02,
        db_retry_max_s=0.2,
        breaker_open_s=0.5,
    )


@pytest.fixture
async def db(db_url: str, app_settings: Settings) -> AsyncIterator[Database]:
    database = Database(db_url, app_settings, min_size=0, max_size=4)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def replica(db_url: str, tmp_path: Path) -> Iterator[Replica]:
    """A real ``airtrack orchestrator`` process on a fresh database, stopped by pid."""
    rep = Replica(db_url, tmp_path / "home", tmp_path / "replica.log")
    try:
        rep.wait_ready()
        yield rep
    finally:
        rep.stop()
