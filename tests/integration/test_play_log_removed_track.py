"""A play of a track removed while its report was on its way is logged, not dropped.

A worker's outbox can hold plays for a long time (the orchestrator unreachable), and a
worker's catalog loses a removed track only at its next manifest: a play that started
before the removal aired while the track was in the catalog, and is logged with the
removed track's copy.  One that started after it is refused (a stale catalog).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from airtrack.catalog.store import remove_track

from .orch_support import Orchestrator, SimWorker, fast_settings, orchestrator, settle

Station = tuple[Orchestrator, SimWorker, int, list[int]]


async def _send(w: SimWorker, *args: Any) -> httpx.Response:
    """``SimWorker.send_play``: (stream, track, key, start[, end[, song origin]])."""
    origin = args[5] if len(args) > 5 else None
    return await w.send_play(*args[:5], origin=origin)


async def _stored(w: SimWorker, *args: Any) -> str:
    r = await _send(w, *args)
    assert r.status_code == 200, r.text
    status: str = r.json()["results"][0]["status"]
    return status


@asynccontextmanager
async def _station(db_url: str, tmp_path: Path, *titles: str) -> AsyncIterator[Station]:
    """An orchestrator with one stream run by one worker, and a track for each title."""
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        tracks = [await orch.add_track(title) for title in titles]
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        yield orch, w, sid, tracks


async def _track_columns(orch: Orchestrator) -> list[tuple[int | None, int | None]]:
    async def fn(tx: Any) -> list[tuple[int | None, int | None]]:
        rows = await tx.execute_raw("SELECT track_id, removed_track_id FROM plays ORDER BY id")
        return [(r["track_id"], r["removed_track_id"]) for r in rows]

    out: list[tuple[int | None, int | None]] = await orch.db.run("test_track_columns", fn)
    return out


async def _last_event(orch: Orchestrator, kind: str) -> dict[str, Any]:
    async def fn(tx: Any) -> dict[str, Any]:
        rows = await tx.execute_raw(
            "SELECT data FROM outbound_events WHERE type = %s ORDER BY id DESC LIMIT 1", (kind,)
        )
        data: dict[str, Any] = rows[0]["data"]
        return data

    out: dict[str, Any] = await orch.db.run("test_last_event", fn)
    return out


async def test_plays_that_started_before_their_tracks_removal_are_logged(
    db_url: str, tmp_path: Path
) -> None:
    async with _station(db_url, tmp_path, "Gone", "Other") as (orch, w, sid, (gone, other)):
        t0 = datetime.now(UTC) - timedelta(minutes=10)
        # heard and reported open; the track is removed while it airs
        assert await _stored(w, sid, gone, "key-open-1", t0) == "stored"
        assert await remove_track(orch.db, gone, force=True) is not None
        (row,) = await orch.plays_by_start()
        assert (row["track_id"], row["title"], row["artist"]) == (None, "Gone", "Artist")

        # its end, reported after the removal under its own key: stored, not refused
        end = t0 + timedelta(seconds=150)
        assert await _stored(w, sid, gone, "key-open-1", t0, end) == "stored"
        # a continuation under another key (a handoff, a restart) merges into that airing
        late_end = t0 + timedelta(seconds=170)
        cont = t0 + timedelta(seconds=60)
        assert await _stored(w, sid, gone, "key-cont-1", cont, late_end) == "stored"
        (row,) = await orch.plays_by_start()
        assert datetime.fromisoformat(row["ended_at"]) == late_end

        # a later airing held in an outbox, reported only now: logged with the track's copy
        t1 = t0 + timedelta(minutes=5)
        held_end = t1 + timedelta(seconds=175)
        assert await _stored(w, sid, other, "key-other-1", t0 + timedelta(minutes=3)) == "stored"
        assert await _stored(w, sid, gone, "key-held-1", t1, held_end) == "stored"
        rows = await orch.plays_by_start()
        assert [(p["track_id"], p["title"]) for p in rows] == [
            (None, "Gone"),
            (other, "Other"),
            (None, "Gone"),
        ]
        held = rows[2]
        assert held["artist"] == "Artist" and held["source"] == "x.mp3"
        assert datetime.fromisoformat(held["ended_at"]) == held_end
        # the open play before it ended where the held airing started
        assert datetime.fromisoformat(rows[1]["ended_at"]) == t1

        # a play that started after the removal: the worker's catalog was stale
        r = await _send(w, sid, gone, "key-after-1", datetime.now(UTC))
        assert r.status_code == 422, r.text
        assert "was removed from the catalog" in r.text
        # and an id that was never a track is refused as before
        r = await _send(w, sid, gone + 1000, "key-never-1", t1)
        assert r.status_code == 422 and "no track" in r.text
        assert len(await orch.plays_by_start()) == 3


async def test_the_same_airing_reported_by_two_keys_after_a_removal_is_one_play(
    db_url: str, tmp_path: Path
) -> None:
    """Neither report was stored before the removal: the second still merges into the first."""
    async with _station(db_url, tmp_path, "Gone") as (orch, w, sid, (gone,)):
        t0 = datetime.now(UTC) - timedelta(minutes=10)
        assert await remove_track(orch.db, gone) is not None  # no plays yet: no --force
        assert await _stored(w, sid, gone, "key-first", t0, t0 + timedelta(seconds=90)) == "stored"
        end = t0 + timedelta(seconds=178)
        assert (
            await _stored(w, sid, gone, "key-second", t0 + timedelta(seconds=80), end) == "stored"
        )
        (row,) = await orch.plays_by_start()
        assert (row["track_id"], row["title"]) == (None, "Gone")
        assert datetime.fromisoformat(row["started_at"]) == t0
        assert datetime.fromisoformat(row["ended_at"]) == end


async def test_an_airing_under_way_at_the_removal_goes_on_and_a_later_one_is_refused(
    db_url: str, tmp_path: Path
) -> None:
    """A handoff's continuation starts after the removal, late in a song that began before
    it: the same airing, taken.  A song that began after the removal is not."""
    async with _station(db_url, tmp_path, "Gone") as (orch, w, sid, (gone,)):
        t0 = datetime.now(UTC) - timedelta(seconds=60)
        assert await _stored(w, sid, gone, "key-first", t0, None, t0) == "stored"
        assert await remove_track(orch.db, gone, force=True) is not None
        assert await _track_columns(orch) == [(None, gone)]  # the removal keeps its id

        now = datetime.now(UTC)
        assert await _stored(w, sid, gone, "key-handoff", now, None, t0) == "stored"
        (row,) = await orch.plays_by_start()
        assert datetime.fromisoformat(row["started_at"]) == t0 and row["title"] == "Gone"

        # integrations hear of the handoff's end with the removed track's copy and id
        end = now + timedelta(seconds=5)
        assert await _stored(w, sid, gone, "key-handoff", now, end, t0) == "stored"
        track = (await _last_event(orch, "play.ended"))["track"]
        assert track == {
            "track_id": None,
            "title": "Gone",
            "artist": "Artist",
            "isrc": None,
            "removed_track_id": gone,
        }

        r = await _send(w, sid, gone, "key-next-airing", now, None, now)
        assert r.status_code == 422 and "before this airing began" in r.text
        assert len(await orch.plays_by_start()) == 1
