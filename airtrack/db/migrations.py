"""Ordered plain-SQL migrations, applied at start under an advisory lock.

Concurrent starters are safe: the first takes the lock and migrates, the
others wait for it and then find nothing left to do.

After the numbered migrations come the repeatable scripts (``events.sql``, the
outbox of integration events; ``ownership.sql``, the functions that change who
owns a stream and fence what workers write; ``play_log.sql``, how fenced plays and
titles become airings). Each is applied again, in the
same transaction, whenever its text differs from the one last applied, so the
one file stays the only home of that logic.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

from airtrack.errors import SchemaTooNew
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


#: Scripts of CREATE OR REPLACE statements, applied after the migrations, in this order.
REPEATABLE = (
    "events.sql",
    "ownership.sql",
    "play_log.sql",
    "stream_state.sql",
    "listeners.sql",
    "archive.sql",
    "clips.sql",
    "unknowns.sql",
)


def _read(name: str) -> str:
    return resources.files("airtrack.db").joinpath(name).read_text("utf-8")


def schema_sql() -> str:
    """The whole current schema: schema.sql, then the repeatable scripts."""
    return "\n".join([_read("schema.sql"), *(_read(name) for name in REPEATABLE)])


async def migrate(db: Database) -> list[int]:
    """Apply pending migrations; return the versions applied by this call.

    A database migrated by a newer airtrack (a version this build does not have) raises
    :class:`SchemaTooNew` and changes nothing: an older build running on a newer schema
    would write rows the newer code does not expect (a rollback needs the backup).
    """
    migrations = available_migrations()
    knows = migrations[-1].version

    async def apply(tx: Tx) -> list[int]:
        await tx.execute("migration_lock", {"key": MIGRATION_LOCK_KEY})
        await tx.execute("migrations_table")
        done = {r["version"] for r in await tx.fetch("migrations_applied")}
        if done and max(done) > knows:
            raise SchemaTooNew(max(done), knows)
        applied = []
        for mig in migrations:
            if mig.version in done:
                continue
            await tx.execute_raw(mig.sql)
            await tx.execute("migration_record", {"version": mig.version, "name": mig.name})
            applied.append(mig.version)
        for name in REPEATABLE:
            text = _read(name)
            digest = hashlib.sha256(text.encode()).hexdigest()
            if await tx.fetchval("script_applied", {"name": name}) != digest:
                await tx.execute_raw(text)
                await tx.execute("script_record", {"name": name, "sha256": digest})
                log.info("db.script_applied", script=name, sha256=digest[:12])
        rebased = int(await tx.fetchval("events_rebase_restored") or 0)
        if rebased:
            log.warning("db.events_rebased", events=rebased)
        return applied

    try:
        applied = await db.run("migrate", apply, tx_max_s=max(db.settings.tx_max_s, 120.0))
    except SchemaTooNew as exc:
        log.error("db.schema_too_new", version=exc.have, knows=exc.knows)
        raise
    if applied:
        log.info("db.migrated", versions=applied)
    return applied


async def current_version(db: Database) -> int:
    rows = await db.fetch("migrations_applied")
    return max((r["version"] for r in rows), default=0)


def latest_version() -> int:
    return available_migrations()[-1].version


def script_digests() -> dict[str, str]:
    """The SHA-256 of each repeatable script as this airtrack ships it."""
    return {name: hashlib.sha256(_read(name).encode()).hexdigest() for name in REPEATABLE}
