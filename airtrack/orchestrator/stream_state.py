"""Stream health (up / down / unmonitored): evaluated by the leader once per control tick.

The rules, the transition log, the ``stream.down`` / ``stream.up`` events and the
``stream.down`` alert (warning, then critical) are all in one SQL function
(``airtrack/db/stream_state.sql``), so a transition and everything it causes commit
together. Uptime is computed from the transition log.
"""

from __future__ import annotations

import contextlib
from typing import Any

from airtrack.db import Database, Row
from airtrack.logging import get_logger
from airtrack.metrics import STREAM_UP, STREAM_UPTIME
from airtrack.settings import Settings

log = get_logger("airtrack.orchestrator.stream_state")

#: Uptime windows shown by ``airtrack status``, the dashboard and ``/metrics``.
WINDOWS = {"24h": 24 * 3600.0, "7d": 7 * 24 * 3600.0}


async def evaluate(db: Database, settings: Settings) -> list[Row]:
    """Move every stream to the health its reports call for; returns the transitions."""
    changed = await db.fetch(
        "stream_state_evaluate",
        {
            "down_after_s": settings.stream_down_after_s,
            "critical_after_s": settings.stream_down_critical_s,
        },
        idempotent=False,
    )
    for row in changed:
        log.info(
            "stream.health",
            stream=row["name"],
            old=row["old_state"],
            new=row["new_state"],
            cause=row["cause"],
        )
        _gauge(row["name"], row["new_state"])
    return changed


async def uptime(db: Database) -> list[dict[str, Any]]:
    """Per stream: its health and the share of monitored time it was up, per window.

    ``None`` when the stream was not monitored at all in the window.
    """
    out: dict[int, dict[str, Any]] = {}
    for label, seconds in WINDOWS.items():
        for row in await db.fetch("stream_uptime", {"window_s": seconds}):
            entry = out.setdefault(
                int(row["stream_id"]), {"stream": row["name"], "health": row["health"]}
            )
            known = row["up_s"] + row["down_s"]
            ratio = row["up_s"] / known if known > 0 else None
            entry[f"uptime_{label}"] = ratio
            if ratio is not None:
                STREAM_UPTIME.labels(row["name"], label).set(ratio)
    for entry in out.values():
        _gauge(entry["stream"], entry["health"])
    return list(out.values())


def _gauge(stream: str, health: str) -> None:
    if health == "unmonitored":
        with contextlib.suppress(KeyError):  # never had a value on this replica
            STREAM_UP.remove(stream)
    else:
        STREAM_UP.labels(stream).set(1 if health == "up" else 0)
