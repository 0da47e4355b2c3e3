"""Live health checks (R6.3): connectivity and data integrity, each timed and bounded.

Every check runs concurrently under its own short timeout, so the answer
comes within ``settings.health_check_timeout_s`` (plus a little) even when the database is
down. The overall result is healthy only when every check passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from airtrack.db import Database
from airtrack.db.migrations import current_version, latest_version
from airtrack.errors import AirtrackError, first_line
from airtrack.metrics import HEALTH_CHECK_OK
from airtrack.settings import Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    ms: float


def leader_fresh_s(settings: Settings) -> float:
    """How old the leader's row may be: a few ticks, never less than 5 s."""
    return max(5.0, 3 * settings.control_tick_s)


async def _reachable(db: Database, settings: Settings) -> str:
    await db.fetchval("ping")
    return "SELECT 1 answered"


async def _writable(db: Database, settings: Settings) -> str:
    await db.fetchone("ops_health_probe", {"value": {"at": time.time()}})
    return "wrote control_state 'health_probe'"


async def _migrations(db: Database, settings: Settings) -> str:
    have, want = await current_version(db), latest_version()
    if have > want:
        raise _Failed(
            f"schema at version {have} is newer than this airtrack (it knows up to {want}): "
            "install the newer airtrack, or restore the backup taken before the upgrade"
        )
    if have != want:
        raise _Failed(
            f"schema at version {have}, this build needs {want}: run `airtrack db migrate`"
        )
    return f"schema at version {have}"


async def _leader(db: Database, settings: Settings) -> str:
    row = await db.fetchone("ops_health_leader")
    limit = leader_fresh_s(settings)
    if row is None:
        raise _Failed("no leader has ever run the control loop")
    age = float(row["age_s"])
    if age > limit:
        raise _Failed(f"leader last ticked {age:.1f} s ago (limit {limit:g} s)")
    return f"{row['value'].get('replica', '?')} ticked {age:.1f} s ago"


async def _integrity(db: Database, settings: Settings) -> str:
    row = await db.fetchone("ops_health_integrity")
    assert row is not None
    labels = {
        "inactive_owner": "assignments held by inactive workers",
        "unknown_owner": "assignments to unknown workers",
        "streams_without_row": "streams without an assignment row",
        "orphan_plays": "plays of deleted streams",
        "orphan_play_keys": "play keys without a play",
        "epoch_ahead": "streams with plays from a later epoch than the assignment",
        "self_handoff": "revokes handing a stream to its own owner",
    }
    bad = [f"{row[k]} {text}" for k, text in labels.items() if row[k]]
    if bad:
        raise _Failed("; ".join(bad))
    return "no inactive owners, orphans or epoch regressions"


async def _capacity(db: Database, settings: Settings) -> str:
    rows = await db.fetch("ops_health_capacity")
    if rows:
        raise _Failed(
            "; ".join(f"{r['id']} holds {r['streams']} of capacity {r['capacity']}" for r in rows)
        )
    return "every worker within its capacity"


class _Failed(Exception):
    """A check ran and found a problem (as opposed to crashing or timing out)."""


CHECKS: dict[str, Callable[[Database, Settings], Awaitable[str]]] = {
    "db_reachable": _reachable,
    "db_writable": _writable,
    "migrations": _migrations,
    "leader": _leader,
    "integrity": _integrity,
    "capacity": _capacity,
}


async def _run(name: str, db: Database, settings: Settings, limit_s: float) -> Check:
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(limit_s):
            detail = await CHECKS[name](db, settings)
        ok = True
    except _Failed as exc:
        ok, detail = False, str(exc)
    except TimeoutError:
        ok, detail = False, f"no answer within {limit_s:g} s"
    except AirtrackError as exc:
        ok, detail = False, f"{type(exc).__name__}: {first_line(exc)}"
    HEALTH_CHECK_OK.labels(name).set(1 if ok else 0)
    return Check(name, ok, detail, round((time.perf_counter() - t0) * 1000, 1))


async def run_health(
    db: Database, settings: Settings, *, limit_s: float | None = None
) -> dict[str, Any]:
    """``{"ok": bool, "checks": [{name, ok, detail, ms}], "ms": total}``."""
    limit_s = settings.health_check_timeout_s if limit_s is None else limit_s
    t0 = time.perf_counter()
    checks = await asyncio.gather(*(_run(n, db, settings, limit_s) for n in CHECKS))
    return {
        "ok": all(c.ok for c in checks),
        "checks": [asdict(c) for c in checks],
        "ms": round((time.perf_counter() - t0) * 1000, 1),
    }
