"""Ordered plain-SQL migrations, applied at start under an advisory lock.

Concurrent starters are safe: the first takes the lock and migrates, the
others wait for it and then find nothing left to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from airtrack.logging import get_logger

from .database import Database, Tx

log = get_logger("airtrack.db.migrations")

#: Key of the advisory lock that serialises migrations ("airtrack" in hex-ish).
MIGRATION_LOCK_KEY = 0x41495254


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    folder = resources.files("airtrack.db").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        m = re.fullmatch(r"(\d{4})_([a-z0-9_]+)\.sql", entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 0001.. without gaps, found {versions}")
    return found


def schema_sql() -> str:
    return resources.files("airtrack.db").joinpath("schema.sql").read_text("utf-8")


async def migrate(db: Database) -> list[int]:
    """Apply pending migrations; return the versions applied by this call."""
    migrations = available_migrations()

    async def apply(tx: Tx) -> list[int]:
        await tx.execute("migration_lock", {"key": MIGRATION_LOCK_KEY})
        await tx.execute("migrations_table")
        done = {r["version"] for r in await tx.fetch("migrations_applied")}
        applied = []
        for mig in migrations:
            if mig.version in done:
                continue
            await tx.execute_raw(mig.sql)
            await tx.execute("migration_record", {"version": mig.version, "name": mig.name})
            applied.append(mig.version)
        return applied

    applied = await db.run("migrate", apply, tx_max_s=max(db.settings.tx_max_s, 120.0))
    if applied:
        log.info("db.migrated", versions=applied)
    return applied


async def current_version(db: Database) -> int:
    rows = await db.fetch("migrations_applied")
    return max((r["version"] for r in rows), default=0)


def latest_version() -> int:
    return available_migrations()[-1].version
