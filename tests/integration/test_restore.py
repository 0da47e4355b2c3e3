"""A restore from backup loses no play a worker still holds: a real pg_dump/pg_restore
round trip, then a worker's queued play with an epoch the restored database never saw
is refused, kept for review, and accepted into the log (docs/deployment.md#restore)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

import psycopg

from .orch_support import SimWorker, fast_settings, orchestrator, settle
from .test_plays_listing import _cli

PG_BIN = Path(__import__("pgserver").__file__).parent / "pginstall" / "bin"


def _plays(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT idempotency_key, epoch FROM plays ORDER BY id").fetchall()
    return [(str(r[0]), int(r[1])) for r in rows]


async def test_plays_queued_across_a_restore_are_kept_and_can_be_accepted(
    db_url: str, pg_server_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(tmp_path)
    backup = tmp_path / "airtrack.dump"
    async with orchestrator(db_url, settings) as orch:
        (sid,) = await orch.add_streams(1, prefix="radio")
        track = await orch.add_track("Song")
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        old_epoch = w.running[sid]
        assert (await w.play(sid, track=track, key="before-backup")).status_code == 200
        dump = [str(PG_BIN / "pg_dump"), "--format=custom", f"--file={backup}", db_url]
        await asyncio.to_thread(subprocess.run, dump, check=True)
        # after the backup the stream changes hands (a leave, a return): epochs the
        # backup never saw, and the worker queues a play under the newest
        assert (await w.deregister()).status_code == 200
        await w.register()
        await settle(orch, [w])
        new_epoch = w.running[sid]
        assert new_epoch > old_epoch

    restored_name = "r_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {restored_name}")
    restored = psycopg.conninfo.make_conninfo(pg_server_url, dbname=restored_name)
    try:
        restore = [str(PG_BIN / "pg_restore"), "--no-owner", f"--dbname={restored}", str(backup)]
        await asyncio.to_thread(subprocess.run, restore, check=True)
        home = tmp_path / "cli"
        check = await asyncio.to_thread(_cli, restored, home, "db", "check")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "plays 1" in check.stdout and "radio0" in check.stdout

        async with orchestrator(restored, settings) as orch:
            w = SimWorker(orch, "w1", 5, credential=w.credential)
            nxt = await orch.add_track("Next Song")  # another airing, not the same one
            r = await w.play(sid, epoch=new_epoch, track=nxt, key="queued-in-outbox")
            assert r.status_code == 409 and r.json()["results"][0]["status"] == "stale"
            (refused,) = (await orch.admin("GET", "/plays/refused")).json()
            assert (refused["reason"], refused["epoch"]) == ("epoch_ahead", new_epoch)
            # its next heartbeat re-fences: the stream stays its own, under the epoch it
            # runs (no restart), and what it sends from then on is logged
            w.running = {sid: new_epoch}
            assert (await w.heartbeat()).status_code == 200
            assert w.running == {sid: new_epoch}
            later = await orch.add_track("Later Song")
            assert (await w.play(sid, track=later, key="after-refence")).status_code == 200
            before = await orch.assignments()

        check = await asyncio.to_thread(_cli, restored, home, "db", "check")
        assert check.returncode == 1 and "refused" in check.stdout, check.stdout
        listed = await asyncio.to_thread(_cli, restored, home, "plays", "refused", "list")
        assert "epoch_ahead" in listed.stdout, listed.stdout + listed.stderr
        accepted = await asyncio.to_thread(
            _cli, restored, home, "plays", "refused", "accept", str(refused["id"])
        )
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert f"#{refused['id']}: stored" in accepted.stdout
        assert _plays(restored) == [
            ("before-backup", old_epoch),
            ("after-refence", new_epoch),
            ("queued-in-outbox", new_epoch),
        ]
        async with orchestrator(restored, settings) as orch:
            assert await orch.assignments() == before  # accepting moved no stream
        check = await asyncio.to_thread(_cli, restored, home, "db", "check")
        assert check.returncode == 0, check.stdout
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {restored_name} WITH (FORCE)")
