"""Migrations: from empty they equal schema.sql, and concurrent starters apply them once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg

from airtrack.db.migrations import schema_sql
from tests.support.processes import spawn

PG_BIN = Path(__import__("pgserver").__file__).parent / "pginstall" / "bin"


def _dump(url: str) -> str:
    out = subprocess.run(
        [str(PG_BIN / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = [
        ln
        for ln in out.splitlines()
        if ln and not ln.startswith("--") and not ln.startswith("SET ") and "set_config" not in ln
    ]
    return "\n".join(lines)


def _catalog_rows(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, revision FROM catalog_state").fetchall()


MIGRATE = """
import asyncio, json, sys
from pathlib import Path
from airtrack.db import Database, migrate
from airtrack.settings import load_settings
async def main():
    db = Database(sys.argv[1], load_settings(home=Path(sys.argv[2])), min_size=0, max_size=1)
    await db.open()
    try:
        print(json.dumps(await migrate(db)))
    finally:
        await db.close()
asyncio.run(main())
"""


def _migrate_in_subprocesses(url: str, home: Path, n: int) -> list[list[int]]:
    procs = [
        spawn(
            [sys.executable, "-c", MIGRATE, url, str(home)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_migrations_from_empty_equal_schema_sql(
    empty_db_url: str, db_url: str, pg_server_url: str, tmp_path: Path
) -> None:
    # db_url was built by migrations (template); empty_db_url gets schema.sql applied.
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute(schema_sql().encode())
    assert _dump(empty_db_url) == _dump(db_url)
    assert _catalog_rows(empty_db_url) == _catalog_rows(db_url)


def test_concurrent_migration_applies_once(empty_db_url: str, tmp_path: Path) -> None:
    results = _migrate_in_subprocesses(empty_db_url, tmp_path, 3)
    latest = sorted(
        int(p.name[:4])
        for p in (Path(__file__).parents[2] / "airtrack/db/migrations").glob("*.sql")
    )
    applied = [r for r in results if r]
    assert applied == [latest], f"exactly one process applies the migrations: {results}"
    with psycopg.connect(empty_db_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == latest
