"""The orchestrator with a real PostgreSQL and real HTTP: R1.1–R1.4, R3.3, R3.4, R4.1."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.wait import until_async

from .orch_support import SimWorker, fast_settings, orchestrator, settle


def _loads(owners: dict[int, str | None]) -> Counter[str]:
    return Counter(w for w in owners.values() if w)


async def test_join_rebalances_on_next_tick(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        sids = await orch.add_streams(10)
        a, b = SimWorker(orch, "wa", 20), SimWorker(orch, "wb", 20)
        for w in (a, b):
            await w.register()
        await settle(orch, [a, b])
        assert sorted(_loads(await orch.owners()).values()) == [5, 5]
        epochs_before = {r["stream_id"]: r["epoch"] for r in await orch.assignments()}

        c = SimWorker(orch, "wc", 20)
        await c.register()
        report = await orch.control.tick()  # R1.1: the next tick decides
        assert len(report.moves) == 3 and all(m.to_worker == "wc" for m in report.moves)
        await settle(orch, [a, b, c])
        owners = await orch.owners()
        assert sorted(_loads(owners).values()) == [3, 3, 4]
        assert set(owners) == set(sids)
        moved = {m.stream_id for m in report.moves}
        for r in await orch.assignments():
            if r["stream_id"] in moved:
                assert r["epoch"] == epochs_before[r["stream_id"]] + 1
            else:
                assert r["epoch"] == epochs_before[r["stream_id"]], "only the needed streams move"
        assert set(c.running) == moved


async def test_crash_moves_streams_after_lease(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        await orch.add_streams(9)
        ws = [SimWorker(orch, f"w{i}", 10) for i in range(3)]
        for w in ws:
            await w.register()
        await settle(orch, ws)
        dead = ws[0]
        dead_streams = set(dead.running)
        assert len(dead_streams) == 3
        # the dead worker stops heartbeating; the others keep going past the lease
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        while loop.time() - t0 < 1.3:
            for w in ws[1:]:
                await w.heartbeat()
            await asyncio.sleep(0.2)
        report = await orch.control.tick()
        assert report.suspect == ["w0"]
        await settle(orch, ws[1:])
        owners = await orch.owners()
        assert all(owners[s] in ("w1", "w2") for s in dead_streams)
        assert sorted(_loads(owners).values()) == [4, 5]
        workers = {w["id"]: w for w in (await orch.admin("GET", "/workers")).json()}
        assert workers["w0"]["state"] == "suspect"
        # R4.1: after inactive_after_s (3 s here) it becomes inactive
        await asyncio.sleep(1.8)
        for w in ws[1:]:
            await w.heartbeat()
        report = await orch.control.tick()
        assert report.inactive == ["w0"]
        # the zombie wakes up: its heartbeat is refused, it must re-register
        r = await dead.heartbeat()
        assert r.status_code == 404


async def test_graceful_leave_moves_at_once(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(
        db_url, fast_settings(tmp_path, lease_ttl_s=30, inactive_after_s=300)
    ) as orch:
        await orch.add_streams(8)
        ws = [SimWorker(orch, f"w{i}", 10) for i in range(2)]
        for w in ws:
            await w.register()
        await settle(orch, ws)
        leaving = set(ws[0].running)
        r = await ws[0].deregister()
        assert r.status_code == 200 and set(r.json()["released"]) == leaving
        await orch.control.tick()
        owners = await orch.owners()
        assert all(owners[s] == "w1" for s in leaving), "moved without waiting for the lease"


async def test_same_id_restart_moves_nothing(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        await orch.add_streams(6)
        ws = [SimWorker(orch, f"w{i}", 10) for i in range(2)]
        for w in ws:
            await w.register()
        await settle(orch, ws)
        before = await orch.assignments()
        kept = dict(ws[0].running)
        body = await ws[0].register()  # restart with the same id inside the lease
        assert {a["stream_id"]: a["epoch"] for a in body["assignments"]} == kept
        report = await orch.control.tick()
        assert report.moves == []
        assert await orch.assignments() == before


async def test_stale_epoch_play_is_refused(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        epoch = w.running[sid]
        track = await orch.add_track()
        ok = await w.play(sid, track=track)
        assert ok.status_code == 200 and ok.json()["results"][0]["status"] == "stored"
        stale = await w.play(sid, epoch=epoch - 1, track=track)
        assert stale.status_code == 409
        assert stale.json()["results"][0]["status"] == "stale"
        plays = (await orch.admin("GET", "/plays")).json()
        assert len(plays) == 1


async def test_idempotent_plays_and_handoff_continuation(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        a = SimWorker(orch, "wa", 5)
        await a.register()
        await settle(orch, [a])
        track = await orch.add_track()
        first = await a.play(sid, key="k-airing-1-start", track=track)
        again = await a.play(sid, key="k-airing-1-start", track=track)
        assert first.json()["results"][0]["status"] == "stored"
        assert again.json()["results"][0]["status"] == "duplicate"
        # the stream moves to b (graceful leave of a); b reports the same airing
        b = SimWorker(orch, "wb", 5)
        await b.register()
        await a.deregister()
        await settle(orch, [b])
        assert sid in b.running
        cont = await b.play(sid, key="k-airing-1-from-b", track=track)
        assert cont.json()["results"][0]["status"] == "stored"
        plays = (await orch.admin("GET", "/plays")).json()
        assert len(plays) == 1, "one airing is one row across a handoff"


async def test_a_slow_handoff_inside_the_song_is_still_one_airing(
    db_url: str, tmp_path: Path
) -> None:
    """The new owner hears of the stream a heartbeat or two after the old one let it go:
    its report of the song then on air starts well past the continuation gap.  The song's
    origin (where its beginning falls on the stream's clock) says it is the same airing;
    a later airing of the song (another origin) stays its own row."""
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        track = await orch.add_track()  # 180 s long
        a = SimWorker(orch, "wa", 5)
        await a.register()
        await settle(orch, [a])
        origin = datetime.now(UTC) - timedelta(seconds=150)
        r = await a.play(
            sid, track=track, started_at=origin, ended_at=origin + timedelta(seconds=40),
            origin=origin,
        )  # fmt: skip
        assert r.json()["results"][0]["status"] == "stored"
        b = SimWorker(orch, "wb", 5)
        await b.register()
        await a.deregister()
        await settle(orch, [b])
        gap = timedelta(seconds=40 + 25)  # 25 s of no owner: past the 10-s gap
        r = await b.play(
            sid, track=track, started_at=origin + gap, ended_at=origin + timedelta(seconds=180),
            origin=origin + timedelta(seconds=0.7),
        )  # fmt: skip
        assert r.json()["results"][0]["status"] == "stored"
        plays = (await orch.admin("GET", "/plays")).json()
        assert len(plays) == 1, "one airing is one row across a slow handoff"
        assert datetime.fromisoformat(plays[0]["started_at"]) == origin
        assert datetime.fromisoformat(plays[0]["ended_at"]) == origin + timedelta(seconds=180)
        # the song aired again right after: its own origin, its own row
        again = origin + timedelta(seconds=200)
        r = await b.play(sid, track=track, started_at=again, origin=again)
        assert r.json()["results"][0]["status"] == "stored"
        assert len((await orch.admin("GET", "/plays")).json()) == 2


async def test_unassigned_stream_reported_is_adopted_else_refused(
    db_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(tmp_path)
    async with orchestrator(db_url, settings) as orch:
        s1, s2 = await orch.add_streams(2)
        a = SimWorker(orch, "wa", 1)
        await a.register()
        await settle(orch, [a])
        owned = next(iter(a.running))
        free = s2 if owned == s1 else s1
        # b is at capacity 1 and reports the stream a owns plus the free one
        b = SimWorker(orch, "wb", 1)
        await b.register()
        r = await b.heartbeat(extra={owned: 7, free: 3})
        got = {x["stream_id"] for x in r.json()["assignments"]}
        assert free in got, "a free stream the worker already runs is adopted (R3.4)"
        assert owned not in got, "a stream owned by another worker is refused"
        owners = await orch.owners()
        assert owners[owned] == "wa" and owners[free] == "wb"


async def test_tokens_and_validation(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        r = await orch.http.get("/api/v1/streams")
        assert r.status_code == 401
        r = await orch.worker_call("GET", "/streams")
        assert r.status_code == 403
        r = await orch.admin("POST", "/streams", json={"name": "x", "url": "ftp://127.0.0.1/a"})
        assert r.status_code == 422
        r = await orch.admin("POST", "/streams", json={"name": "x", "url": "http://127.0.0.1/a"})
        assert r.status_code == 201
        r = await orch.admin("POST", "/streams", json={"name": "x", "url": "http://127.0.0.1/b"})
        assert r.status_code == 409
        r = await orch.worker_call(
            "POST",
            "/workers/register",
            content=b"{" + b" " * 2_000_000 + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 413
        r = await orch.http.get("/healthz")
        assert r.status_code == 200


async def test_plays_queued_through_an_outage_are_kept_unless_another_worker_took_over(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        s1, s2 = await orch.add_streams(2)
        track = await orch.add_track()
        a = SimWorker(orch, "wa", 5)
        await a.register()
        await settle(orch, [a])
        old = dict(a.running)
        # a cannot reach the orchestrator for longer than its lease: nobody else is there,
        # so its streams become unassigned, and then a comes back
        await asyncio.sleep(1.2)
        report = await orch.control.tick()
        assert report.suspect == ["wa"]
        await a.register()
        await settle(orch, [a])
        assert all(a.running[s] > old[s] for s in old), "new epochs after the lease expired"
        kept = await a.play(s1, epoch=old[s1], track=track)
        assert kept.json()["results"][0]["status"] == "stored", "no other owner since: kept"
        # now s2 moves to b; a's play from its old epoch of s2 must be refused
        b = SimWorker(orch, "wb", 5)
        await b.register()
        await a.deregister()
        await settle(orch, [b])
        assert s2 in b.running
        refused = await a.play(s2, epoch=old[s2], track=track)
        assert refused.status_code == 409


async def test_worker_back_after_its_lease_reclaims_streams_nobody_took(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        await orch.add_streams(3)
        a = SimWorker(orch, "wa", 5)
        await a.register()
        await settle(orch, [a])
        mine = set(a.running)

        async def inactive() -> bool:  # silent past the lease, then past inactive_after
            report = await orch.control.tick()
            return report.inactive == ["wa"]

        await until_async(inactive, 15, "the silent worker is declared inactive", step=0.2)
        await orch.control.tick()
        assert await orch.owners() == {}
        assert (await a.heartbeat()).status_code == 404
        body = await a.register()  # no control tick in between
        assert {x["stream_id"] for x in body["assignments"]} == mine


async def test_an_unfinished_play_is_closed_by_the_next_but_not_past_its_song(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1)
        track = await orch.add_track()  # 180 s long
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        epoch = w.running[sid]
        t0 = datetime.now(UTC) - timedelta(minutes=10)

        async def report(key: str, start: datetime) -> None:
            r = await orch.worker_call(
                "POST",
                "/plays",
                headers=w.auth,
                json={
                    "worker_id": w.id,
                    "plays": [
                        {
                            "key": key,
                            "stream_id": sid,
                            "epoch": epoch,
                            "track_id": track,
                            "started_at": start.isoformat(),
                            "confidence": 0.9,
                        }
                    ],
                },
            )
            assert r.json()["results"][0]["status"] == "stored"

        await report("first-airing", t0)  # its end never comes (the worker died)
        await report("next-airing", t0 + timedelta(minutes=7))
        plays = (await orch.admin("GET", "/plays")).json()
        assert len(plays) == 2, "the same song aired twice, 7 min apart, is two rows"
        first = plays[-1]  # newest first
        ended = datetime.fromisoformat(first["ended_at"])
        assert ended - t0 == timedelta(seconds=180), "capped at the song's length, not 7 min"
