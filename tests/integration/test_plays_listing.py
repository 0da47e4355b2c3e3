"""Plays listings: an unknown stream is an error everywhere (issue 15.12), and a play
keeps the song it aired after the track leaves the catalog (issue 15.11)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from .orch_support import fast_settings, orchestrator


def _cli(db_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env |= {"AIRTRACK_DATABASE_URL": db_url, "AIRTRACK_HOME": str(home)}
    env["AIRTRACK_LOG_LEVEL"] = "WARNING"
    return subprocess.run(
        [sys.executable, "-m", "airtrack", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


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
