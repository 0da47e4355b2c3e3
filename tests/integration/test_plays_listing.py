"""Plays listings: an unknown stream is an error everywhere, and a play
keeps the song it aired after the track leaves the catalog."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from tests.support.cli import run_cli

from .orch_support import SimWorker, fast_settings, orchestrator, settle


def _cli(db_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"AIRTRACK_DATABASE_URL": db_url, "AIRTRACK_LOG_LEVEL": "WARNING"}
    return run_cli(*args, home=home, env=env)


async def test_unknown_stream_is_404_in_the_api_and_an_error_in_the_cli(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        await orch.add_streams(1, prefix="known")
        missing = await orch.admin("GET", "/plays", params={"stream": "nosuch"})
        assert missing.status_code == 404
        assert missing.json() == {"detail": "no stream named 'nosuch'"}
        known = await orch.admin("GET", "/plays", params={"stream": "known0"})
        assert known.status_code == 200 and known.json() == []

    for args in (["plays", "--stream", "nosuch"], ["plays", "--stream", "nosuch", "--json"]):
        proc = await asyncio.to_thread(_cli, db_url, tmp_path / "home", *args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert proc.stdout == ""
        assert proc.stderr.strip().splitlines() == ["airtrack: no stream named 'nosuch'"]
    ok = await asyncio.to_thread(_cli, db_url, tmp_path / "home", "plays", "--stream", "known0")
    assert ok.returncode == 0, ok.stderr


async def test_removing_a_played_track_needs_force_and_keeps_what_aired(
    db_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1, prefix="radio")
        track = await orch.add_track("Song A")
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        assert (await w.play(sid, track=track)).status_code == 200
        # another writer (an admin's SQL, a future recording function) gets the copy too
        await orch.db.run(
            "test_raw_play",
            lambda tx: tx.execute_raw(
                "INSERT INTO plays (idempotency_key, stream_id, track_id, started_at, "
                "confidence, epoch) VALUES ('raw', %s, %s, now() - interval '1 hour', 0.9, 0)",
                (sid, track),
            ),
        )
        before = (await orch.admin("GET", "/plays", params={"stream": "radio0"})).json()
        assert [(p["track_id"], p["title"]) for p in before] == [(track, "Song A")] * 2

        refused = await asyncio.to_thread(_cli, db_url, home, "catalog", "remove", str(track))
        assert refused.returncode == 1, (refused.stdout, refused.stderr)
        (line,) = refused.stderr.strip().splitlines()
        assert f"track #{track} has 2 plays logged" in line and "--force" in line
        assert (await orch.admin("GET", "/plays")).json() == before  # nothing removed

        forced = await asyncio.to_thread(
            _cli, db_url, home, "catalog", "remove", "--force", str(track)
        )
        assert forced.returncode == 0, forced.stderr
        after = (await orch.admin("GET", "/plays", params={"stream": "radio0"})).json()
        assert len(after) == 2
        for old, new in zip(before, after, strict=True):
            assert new["track_id"] is None  # the track is gone: the FK set it NULL
            assert (new["title"], new["artist"], new["source"]) == ("Song A", "Artist", "x.mp3")
            assert new["started_at"] == old["started_at"]

    table = await asyncio.to_thread(_cli, db_url, home, "plays", "--stream", "radio0")
    assert table.returncode == 0 and "Song A" in table.stdout and "#None" not in table.stdout
