"""``catalog reindex``: prints re-derived from stored peaks, staged, resumed, swapped in."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from airtrack.catalog import discover, ingest, load_index
from airtrack.catalog.recognise import scan_recording
from airtrack.catalog.reindex import reindex
from airtrack.catalog.store import ENGINE
from airtrack.db import Database, Tx
from airtrack.settings import Settings
from tests.integration.test_catalog_support import catalog_song, crossfade, write

SONG_S = 30.0


class Interrupted(Exception):
    pass


async def _sql(db: Database, statement: str, params: tuple[object, ...] | None = None) -> list[Any]:
    async def fn(tx: Tx) -> list[Any]:
        return await tx.execute_raw(statement, params)

    return await db.run("test_sql", fn)


async def _prints(db: Database) -> dict[int, tuple[str, bytes]]:
    rows = await _sql(db, "SELECT track_id, engine, prints FROM track_prints")
    return {int(r["track_id"]): (r["engine"], bytes(r["prints"])) for r in rows}


async def _revision(db: Database) -> int:
    return int((await _sql(db, "SELECT revision FROM catalog_state"))[0]["revision"])


async def _add_songs(db: Database, tmp_path: Path, n: int) -> None:
    for i in range(n):
        write(tmp_path / "lib" / f"song{i}.wav", catalog_song(i, SONG_S))
    summary = await ingest(db, discover([str(tmp_path / "lib")]), jobs=0)
    assert summary.added == n


async def _engine_changes(db: Database) -> None:
    """What a new PRINTS_VERSION looks like to the database: every print is of another
    engine (the index refuses them), only the stored peaks still hold."""
    await _sql(db, "UPDATE track_prints SET engine = 'landmark-v0', prints = 'old'")


async def test_reindex_from_peaks_gives_identical_prints_and_plays(
    db: Database, app_settings: Settings, tmp_path: Path
) -> None:
    await _add_songs(db, tmp_path, 3)
    before = await _prints(db)
    index, _ = await load_index(db, app_settings)
    mix, _ = crossfade([catalog_song(i, SONG_S) for i in (2, 0, 1)], 3.0)
    recording = write(tmp_path / "air" / "recording.wav", mix)
    plays = scan_recording(recording, index).plays
    assert sorted(p.track_id for p in plays) == sorted(before)

    await _engine_changes(db)
    # one track added before peaks were stored: it needs its audio again
    no_peaks = max(before)
    await _sql(db, "DELETE FROM track_peaks WHERE track_id = %s", (no_peaks,))
    revision = await _revision(db)

    def stop(done: int, total: int) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):  # stopped after its first batch was staged
        await reindex(db, jobs=2, on_progress=stop)
    # nothing served changed: the old prints and the revision (so the old snapshot) hold
    assert await _revision(db) == revision
    assert all(engine == "landmark-v0" for engine, _ in (await _prints(db)).values())

    report = await reindex(db, jobs=2)  # resumes: the staged tracks are not derived again
    assert report.derived == 0 and report.already_staged == 2 and report.todo == 0
    assert report.need_audio == 1 and not report.failed and report.swapped == 2
    assert await _revision(db) == revision + 1
    after = await _prints(db)
    for track_id, (engine, blob) in before.items():
        if track_id != no_peaks:
            assert after[track_id] == (engine, blob), "bit-identical prints"
    assert after[no_peaks][0] == "landmark-v0"

    # plays of the re-derived tracks are exactly those of the index made from the audio
    index2, _ = await load_index(db, app_settings)
    replayed = scan_recording(recording, index2).plays
    assert replayed == [p for p in plays if p.track_id != no_peaks] and replayed
    again = await reindex(db, jobs=0)  # nothing left to do: nothing changes
    assert again.derived == 0 and again.swapped == 0 and await _revision(db) == revision + 1


async def test_reindex_cli_reports_progress_and_tracks_that_need_audio(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    await _add_songs(db, tmp_path, 2)
    await _engine_changes(db)
    await _sql(db, "DELETE FROM track_peaks WHERE track_id = (SELECT min(id) FROM tracks)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env |= {"AIRTRACK_DATABASE_URL": db_url, "AIRTRACK_HOME": str(tmp_path / "home")}
    env["AIRTRACK_CATALOG_PROGRESS_LINE_S"] = "0.001"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "airtrack", "catalog", "reindex", "--jobs", "1",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out_b, err_b = await asyncio.wait_for(proc.communicate(), 300)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stdout, stderr = out_b.decode(), err_b.decode()
    assert proc.returncode == 0, stderr
    assert "reindex: 1/1 tracks" in stderr  # the line a log gets instead of a bar
    assert "1 track re-derived from stored peaks" in stdout
    assert "1 track have no stored peaks and need their audio again" in stdout
    assert "now serve" in stdout
    assert {e for e, _ in (await _prints(db)).values()} == {ENGINE, "landmark-v0"}
