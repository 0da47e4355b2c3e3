"""One airing is one play with one true end and one confidence, across reports and handoffs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .orch_support import Orchestrator, SimWorker, fast_settings, orchestrator, settle


async def _report(
    orch: Orchestrator,
    w: SimWorker,
    sid: int,
    track: int,
    key: str,
    start: datetime,
    end: datetime | None = None,
    confidence: float = 0.9,
    origin: datetime | None = None,
) -> str:
    r = await w.send_play(sid, track, key, start, end, confidence=confidence, origin=origin)
    assert r.status_code == 200, r.text
    status: str = r.json()["results"][0]["status"]
    return status


async def _plays(orch: Orchestrator) -> list[dict[str, Any]]:
    return await orch.plays_by_start()


async def test_a_plays_confidence_is_the_highest_any_report_carried(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        track = await orch.add_track()
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        t0 = datetime.now(UTC) - timedelta(minutes=5)
        # detected early with little evidence, ended with a lot (as the worker reports it)
        assert await _report(orch, w, sid, track, "key-conf-1", t0, confidence=0.65) == "stored"
        end = t0 + timedelta(seconds=170)
        assert await _report(orch, w, sid, track, "key-conf-1", t0, end, 0.999) == "stored"
        (play,) = await _plays(orch)
        assert play["confidence"] == 0.999
        assert datetime.fromisoformat(play["ended_at"]) == end
        # an outbox retry of the first report changes nothing
        assert await _report(orch, w, sid, track, "key-conf-1", t0, confidence=0.65) == "duplicate"
        (play,) = await _plays(orch)
        assert play["confidence"] == 0.999


async def test_a_handoff_never_moves_a_known_end_into_the_next_song(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        song, next_song = await orch.add_track("Song"), await orch.add_track("Next")
        a = SimWorker(orch, "wa", 5)
        await a.register()
        await settle(orch, [a])
        t0 = datetime.now(UTC) - timedelta(minutes=10)
        true_end = t0 + timedelta(seconds=150)
        assert await _report(orch, a, sid, song, "key-a-song", t0, true_end) == "stored"
        assert await _report(orch, a, sid, next_song, "key-a-next", true_end) == "stored"
        # the stream moves to b, which dates the tail of the song it heard 16 s late
        b = SimWorker(orch, "wb", 5)
        await b.register()
        await a.deregister()
        await settle(orch, [b])
        assert sid in b.running
        late = true_end + timedelta(seconds=16)
        assert (
            await _report(orch, b, sid, song, "key-b-song", t0 + timedelta(seconds=1)) == "stored"
        )
        await _report(orch, b, sid, song, "key-b-song", t0 + timedelta(seconds=1), late)
        first, second = await _plays(orch)
        assert first["title"] == "Song" and second["title"] == "Next"
        assert datetime.fromisoformat(first["started_at"]) == t0
        assert datetime.fromisoformat(first["ended_at"]) == true_end, "the known end stands"
        # a report whose end overlaps the next song by a crossfade's length still counts
        crossfade_end = true_end + timedelta(seconds=2)
        await _report(orch, b, sid, song, "key-b-song-2", t0 + timedelta(seconds=1), crossfade_end)
        first, _ = await _plays(orch)
        assert datetime.fromisoformat(first["ended_at"]) == crossfade_end


async def test_a_handoff_mid_song_extends_the_play_to_where_the_new_owner_heard_it_end(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        song = await orch.add_track("Song")
        a = SimWorker(orch, "wa", 5)
        await a.register()
        await settle(orch, [a])
        t0 = datetime.now(UTC) - timedelta(minutes=10)
        handoff = t0 + timedelta(seconds=60)
        # a stopped listening at the handoff: its play ends there
        assert await _report(orch, a, sid, song, "key-a-song", t0, handoff) == "stored"
        b = SimWorker(orch, "wb", 5)
        await b.register()
        await a.deregister()
        await settle(orch, [b])
        end = t0 + timedelta(seconds=170)
        assert await _report(orch, b, sid, song, "key-b-song", t0, end) == "stored"
        (play,) = await _plays(orch)
        assert datetime.fromisoformat(play["ended_at"]) == end


async def test_play_events_are_written_with_the_play(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        song, other = await orch.add_track("Song"), await orch.add_track("Other")
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        t0 = datetime.now(UTC) - timedelta(minutes=10)
        await _report(orch, w, sid, song, "key-ev-1", t0)
        await _report(orch, w, sid, song, "key-ev-1", t0)  # a retry: no new event
        await _report(orch, w, sid, song, "key-ev-1", t0, t0 + timedelta(seconds=100))
        # the next airing closes an open one whose end never came
        await _report(orch, w, sid, other, "key-ev-2", t0 + timedelta(seconds=120))
        await _report(orch, w, sid, song, "key-ev-3", t0 + timedelta(seconds=300))

        async def fn(tx: Any) -> list[dict[str, Any]]:
            return await tx.execute_raw(
                "SELECT type, stream_id, data FROM outbound_events ORDER BY id"
            )

        events = await orch.db.run("test_events", fn)
        kinds = [(e["type"], e["data"]["track"]["title"]) for e in events]
        assert kinds == [
            ("play.started", "Song"),
            ("play.ended", "Song"),
            ("play.started", "Other"),
            ("play.ended", "Other"),
            ("play.started", "Song"),
        ]
        first = events[0]["data"]
        assert first["station"] == "s0" and first["stream_id"] == sid == events[0]["stream_id"]
        assert first["ended_at"] is None and first["worker"] == "w1"
        assert events[1]["data"]["duration_s"] == 100


async def test_a_repeat_or_a_rewind_is_another_airing_a_restart_is_not(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        song = await orch.add_track("Song")
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        t0 = datetime.now(UTC) - timedelta(minutes=20)
        sec = timedelta(seconds=1)
        # aired whole, then again at once from the top: two airings, 150 s apart in origin
        await _report(orch, w, sid, song, "key-first-air", t0, t0 + 150 * sec, origin=t0)
        again = t0 + 151 * sec
        await _report(orch, w, sid, song, "key-repeat-air", again, again + 150 * sec, origin=again)
        # a DJ rewinds 40 s into the second airing, 60 s after it began
        rewind = again + 150 * sec + 2 * sec
        await _report(
            orch,
            w,
            sid,
            song,
            "key-rewind-air",
            rewind,
            rewind + 90 * sec,
            origin=rewind - 40 * sec,
        )
        plays = await _plays(orch)
        assert [datetime.fromisoformat(p["started_at"]) for p in plays] == [t0, again, rewind]
        assert [datetime.fromisoformat(p["ended_at"]) for p in plays] == [
            t0 + 150 * sec,
            again + 150 * sec,
            rewind + 90 * sec,
        ]
        # the worker restarts mid-airing: a new key, the same origin: the same airing
        restart = rewind + 30 * sec
        await _report(
            orch,
            w,
            sid,
            song,
            "key-after-restart",
            restart,
            rewind + 95 * sec,
            origin=rewind - 40 * sec + 0.3 * sec,
        )
        plays = await _plays(orch)
        assert len(plays) == 3
        assert datetime.fromisoformat(plays[-1]["ended_at"]) == rewind + 95 * sec


async def test_a_short_tail_heard_after_a_handoff_stays_one_airing(
    db_url: str, tmp_path: Path
) -> None:
    """The chaos run's PostgreSQL restart: the new epoch heard 3 s of the song's end and
    placed it 5 s off; it is the same airing, not a second one."""
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        song = await orch.add_track("Song")
        a = SimWorker(orch, "wa", 5)
        await a.register()
        await settle(orch, [a])
        t0 = datetime.now(UTC) - timedelta(minutes=10)
        sec = timedelta(seconds=1)
        await _report(orch, a, sid, song, "key-before-move", t0, t0 + 27 * sec, origin=t0)
        b = SimWorker(orch, "wb", 5)
        await b.register()
        await a.deregister()
        await settle(orch, [b])
        tail = t0 + 27.5 * sec
        await _report(
            orch, b, sid, song, "key-tail-after", tail, t0 + 30 * sec, 0.6, origin=t0 + 5 * sec
        )
        plays = await _plays(orch)
        assert len(plays) == 1, plays
        assert datetime.fromisoformat(plays[0]["ended_at"]) == t0 + 30 * sec
