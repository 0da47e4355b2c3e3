"""``airtrack db check``: is this database one this airtrack can run on, and what is in it?

Run after a restore (docs/deployment.md#restore), before starting the orchestrator: it
reads, never migrates or changes anything. A problem is something to act on before
starting: a schema older or newer than this airtrack, repeatable scripts that are not
this airtrack's, refused plays waiting for review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airtrack.db import Database
from airtrack.db.migrations import latest_version, script_digests


@dataclass
class DatabaseCheck:
    """What ``db check`` found: problems (each with what to do) and what the store holds."""

    schema_version: int | None = None
    expected_version: int = field(default_factory=latest_version)
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    streams: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "schema_version": self.schema_version,
            "expected_version": self.expected_version,
            "problems": self.problems,
            "counts": self.counts,
            "streams": self.streams,
        }


async def check_database(db: Database) -> DatabaseCheck:
    """Read the schema version, the scripts, the counts and each stream's latest play."""
    found = DatabaseCheck()
    if not await db.fetchval("ops_check_schema_known"):
        found.problems.append(
            "no airtrack schema in this database: restore into the right database, or run "
            "`airtrack db migrate` to create an empty one"
        )
        return found
    versions = [int(r["version"]) for r in await db.fetch("migrations_applied")]
    found.schema_version = max(versions, default=0)
    want = found.expected_version
    if found.schema_version < want:
        found.problems.append(
            f"schema version {found.schema_version} is older than this airtrack's {want}: "
            "run `airtrack db migrate` (the orchestrator also migrates at start)"
        )
        return found
    if found.schema_version > want:
        found.problems.append(
            f"schema version {found.schema_version} is newer than this airtrack's {want}: "
            "install the airtrack that wrote it, or restore the backup taken before the upgrade"
        )
        return found
    applied = {str(r["name"]): str(r["sha256"]) for r in await db.fetch("ops_check_scripts")}
    differ = sorted(n for n, sha in script_digests().items() if applied.get(n) != sha)
    if differ:
        found.problems.append(
            f"database functions ({', '.join(differ)}) are not this airtrack's: run "
            "`airtrack db migrate`"
        )
    found.counts = {str(r["name"]): int(r["n"]) for r in await db.fetch("ops_check_counts")}
    found.streams = [dict(r) for r in await db.fetch("ops_check_latest_plays")]
    waiting = found.counts.get("refused_plays", 0)
    if waiting:
        found.problems.append(
            f"{waiting} refused plays or titles wait for review: "
            "`airtrack plays refused list`, then accept or discard them"
        )
    return found
