"""``airtrack catalog backfill``: past airings of tracks, found in the fingerprint archive."""

from __future__ import annotations

import json as jsonlib
import re
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from airtrack.db import Database
from airtrack.settings import Settings

from ._common import fail, out, run_async, with_db
from .remote import is_remote

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``7d`` (or a bare number of seconds)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        fail(f"--since must be a duration like 90s, 30m, 12h or 7d, got {text!r}")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2) or "s"])


def run(settings: Settings, track_ids: list[int], since: str | None, json: bool) -> None:
    """Back-fill ``track_ids`` (all tracks added within ``since`` when none are named)
    over the archive (its last ``since`` only, when given)."""
    from airtrack.orchestrator.backfill import backfill, tracks_added_since

    if is_remote():
        fail("catalog backfill runs next to the database (the leader also runs it by itself)")
    now = datetime.now(UTC)
    start = now - parse_duration(since) if since else None

    async def go(db: Database) -> dict[str, object]:
        ids = track_ids
        if not ids:
            ids = await tracks_added_since(db, start or now - timedelta(days=settings.archive_days))
        report = await backfill(db, settings, ids, since=start)
        return asdict(report)

    result = run_async(with_db(settings, go))
    if json:
        print(jsonlib.dumps(result))
        return
    out.print(
        f"back-fill: {len(result['tracks'])} track(s), {result['streams']} stream(s), "  # type: ignore[arg-type]
        f"{result['segments']} segment(s): {result['found']} airing(s) found, "
        f"{result['stored']} new play(s), {result['duplicate']} already logged",
        markup=False,
        highlight=False,
    )
