"""Recurring unknowns for operators: list, show, dismiss, label.

Discovery (:mod:`airtrack.orchestrator.discovery`) makes them; here they are read and
decided on. Labelling makes an unknown a catalog track from one airing's archived prints
(the archive keeps the peak pairs with their exact features: the track's prints are those
pairs hashed as the catalog hashes a file) and back-fills its airings at once
(:func:`airtrack.orchestrator.backfill.backfill` around each): they become plays of
source ``backfill``; the leader's back-fill of new tracks then searches the rest of the
archive. The unknown is then ``labelled`` (with the track id) and leaves the list;
a dismissed one is hidden, and so are its later airings (they still join it).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from airtrack.catalog.identifiers import normalise_isrc
from airtrack.catalog.store import NewTrack, add_track
from airtrack.db import Database
from airtrack.errors import ArchiveSegmentError, NoSuchUnknown, UnknownContentError
from airtrack.fingerprint import params as P
from airtrack.fingerprint.archive import concat_pairs, decode_segment, select_pairs
from airtrack.fingerprint.landmarks import Pairs, pack_prints, prints_from_pairs
from airtrack.logging import get_logger
from airtrack.orchestrator.backfill import BackfillReport, backfill
from airtrack.settings import Settings

log = get_logger(__name__)

_FPS = P.FRAMES_PER_S
#: A segment starting this long before an airing may still hold its beginning.
_SEGMENT_REACH = timedelta(minutes=10)
#: The archive replayed around an airing when labelling: the segment that holds its
#: start (segments are a minute by default), and a little after its end.
_SEGMENT_BEFORE = timedelta(minutes=2)
_SEGMENT_AFTER = timedelta(seconds=30)
#: The track's prints reach this far past the airing as discovery saw it (sampled prints
#: miss a little at each edge).
_EDGE_S = 0.5


def _summary(r: Any) -> dict[str, Any]:
    return {
        "id": int(r["id"]),
        "airings": int(r["airings"]),
        "stations": list(r["stations"]),
        "duration_s": float(r["duration_s"]),
        "first": r["first"].isoformat(),
        "last": r["last"].isoformat(),
    }


async def list_unknowns(
    db: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    min_airings: int = 2,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Open unknowns, most airings first: ``[{"id", "airings", "stations", "duration_s",
    "first", "last"}]`` (times ISO 8601 with zone)."""
    rows = await db.fetch(
        "unknown_list",
        {"from": since, "to": until, "min_airings": min_airings, "limit": limit,
         "all": False, "id": None},
    )  # fmt: skip
    return [_summary(r) for r in rows]


async def show_unknown(db: Database, unknown_id: int) -> dict[str, Any]:
    """One unknown (whatever its status) with its airings ``[{"stream", "start", "end"}]``."""
    row = await db.fetchone(
        "unknown_list",
        {"from": None, "to": None, "min_airings": 0, "limit": 1, "all": True, "id": unknown_id},
    )
    if row is None:
        raise NoSuchUnknown(f"no unknown #{unknown_id}")
    airings = await db.fetch("unknown_airings", {"id": unknown_id})
    return {
        **_summary(row),
        "status": row["status"],
        "track_id": row["track_id"],
        "airings": [
            {"stream": a["stream"], "start": a["start"].isoformat(), "end": a["end"].isoformat()}
            for a in airings
        ],
    }


async def dismiss(db: Database, unknown_id: int) -> dict[str, Any]:
    """Hide an unknown from the list (its later airings join it, hidden too)."""
    status = await db.fetchval(
        "unknown_status", {"id": unknown_id, "status": "dismissed", "track": None}
    )
    if status is None:
        raise NoSuchUnknown(f"no unknown #{unknown_id}")
    log.info("unknown.dismissed", unknown_id=unknown_id, status=status)
    return {"id": unknown_id, "status": status}


async def label(
    db: Database,
    settings: Settings,
    unknown_id: int,
    *,
    title: str,
    artist: str,
    isrc: str | None = None,
) -> dict[str, Any]:
    """Make the unknown a catalog track and back-fill its airings."""
    shown = await show_unknown(db, unknown_id)
    if shown["status"] == "labelled":
        raise UnknownContentError(
            f"unknown #{unknown_id} is labelled already (track #{shown['track_id']})"
        )
    meta = {"isrc": normalise_isrc(isrc)} if isrc else {}
    airings = await db.fetch("unknown_airings", {"id": unknown_id})
    # the longest airing first: the most of the recording; an older one may be gone
    for a in sorted(airings, key=lambda a: a["start"] - a["end"]):
        pairs = await _airing_pairs(db, int(a["stream_id"]), a["start"], a["end"])
        if len(pairs):
            duration = (a["end"] - a["start"]).total_seconds() + 2 * _EDGE_S
            break
    else:
        raise UnknownContentError(
            f"unknown #{unknown_id}: its airings are no longer in the fingerprint archive"
        )
    packed = pack_prints(prints_from_pairs(pairs, duration))
    track = NewTrack(
        title=title,
        artist=artist,
        source=f"unknown:{unknown_id}",
        duration_s=duration,
        sha256=hashlib.sha256(packed).hexdigest(),
        prints=packed,
        meta=meta,
    )
    outcome = await add_track(db, track)
    # the airings discovery found, each replayed on its own stream now (a few segments
    # each: the answer comes at once); the rest of the archive (other streams, older
    # days) is the leader's back-fill of the new track, which never logs an airing twice
    total = BackfillReport(tracks=[outcome.track_id])
    for a in airings:
        done = await backfill(
            db,
            settings,
            [outcome.track_id],
            since=a["start"] - _SEGMENT_BEFORE,
            until=a["end"] + _SEGMENT_AFTER,
            streams=[int(a["stream_id"])],
        )
        for k in ("streams", "segments", "found", "stored", "duplicate", "damaged"):
            setattr(total, k, getattr(total, k) + getattr(done, k))
    await db.fetchval(
        "unknown_status", {"id": unknown_id, "status": "labelled", "track": outcome.track_id}
    )
    log.info("unknown.labelled", unknown_id=unknown_id, track_id=outcome.track_id,
             backfilled=total.stored)  # fmt: skip
    return {"id": unknown_id, "track_id": outcome.track_id, "backfill": asdict(total)}


async def _airing_pairs(db: Database, sid: int, start: datetime, end: datetime) -> Pairs:
    """The archived pairs anchored in ``[start, end]`` (± a little), frames from its start."""
    lo_s, hi_s = start.timestamp() - _EDGE_S, end.timestamp() + _EDGE_S
    rows = await db.fetch(
        "unknown_segments",
        {"sid": sid, "since": start - _SEGMENT_REACH, "until": end.astimezone(UTC)},
    )
    parts: list[Pairs] = []
    for r in rows:
        try:
            seg = decode_segment(bytes(r["data"]))
        except ArchiveSegmentError:
            continue
        at = r["started_at"].timestamp() + seg.pairs.t / _FPS
        inside = select_pairs(seg.pairs, (at >= lo_s) & (at <= hi_s))
        if len(inside):
            t = np.rint((r["started_at"].timestamp() - lo_s) * _FPS).astype(np.int64)
            parts.append(
                Pairs(np.maximum(inside.t + t, 0), inside.lnf1, inside.df, inside.dt,
                      inside.fdf, inside.fdt)
            )  # fmt: skip
    pairs = concat_pairs(parts)
    if not len(pairs):
        return pairs
    order = np.argsort(pairs.t, kind="stable")
    return select_pairs(pairs, order)
