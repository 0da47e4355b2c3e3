"""Index snapshots exported from the database: cached per revision, rebuilt on change."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from airtrack.catalog import discover, ensure_snapshot, ingest, load_index, remove_track
from airtrack.catalog import snapshot as snapshot_mod
from airtrack.db import Database
from airtrack.fingerprint import Index, identify
from airtrack.settings import Settings
from tests.integration.test_catalog_support import catalog_song, write

SONG_S = 12.0


async def add(db: Database, *paths: Path) -> list[int]:
    """Track ids in the order of ``paths`` (results arrive in completion order)."""
    ids: dict[str, int] = {}
    await ingest(
        db,
        discover([str(p) for p in paths]),
        jobs=0,
        on_result=lambda r: ids.update({r.source: r.track_id}) if r.track_id else None,
    )
    return [ids[str(p)] for p in paths]


def snapshot_files(settings: Settings) -> list[str]:
    return sorted(p.name for p in snapshot_mod.snapshot_dir(settings).iterdir())


async def test_same_revision_same_file_and_new_track_new_version(
    db: Database, app_settings: Settings, tmp_path: Path
) -> None:
    empty = await ensure_snapshot(db, app_settings)
    assert Index.load(empty.path).n_tracks == 0

    [a] = await add(db, write(tmp_path / "a.mp3", catalog_song(0, SONG_S)))
    first = await ensure_snapshot(db, app_settings)
    assert first.revision == 1 and first.version != empty.version
    mtime = first.path.stat().st_mtime_ns
    again = await ensure_snapshot(db, app_settings)
    assert again == first and again.path.stat().st_mtime_ns == mtime  # not rebuilt

    [b] = await add(db, write(tmp_path / "b.mp3", catalog_song(1, SONG_S)))
    second = await ensure_snapshot(db, app_settings)
    assert second.revision == 2 and second.version != first.version
    index = Index.load(second.path)
    assert sorted(index.track_ids.tolist()) == [a, b]

    # the previous file stays for readers that still use it; older ones go
    assert first.path.exists() and not empty.path.exists()
    await remove_track(db, a)
    third = await ensure_snapshot(db, app_settings)
    assert Index.load(third.path).track_ids.tolist() == [b]
    assert set(snapshot_files(app_settings)) == {second.path.name, third.path.name}


async def test_snapshot_index_recognises_the_catalog(
    db: Database, app_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_mod, "_BATCH", 2)  # several fetch batches for 5 tracks
    ids = await add(db, *(write(tmp_path / f"s{i}.ogg", catalog_song(i, SONG_S)) for i in range(5)))
    index, _snap = await load_index(db, app_settings)
    assert sorted(index.track_ids.tolist()) == sorted(ids)
    clip = np.asarray(catalog_song(3, SONG_S))[22050 * 3 : 22050 * 10]
    match = identify(resample_poly(clip, 160, 441).astype(np.float32), index)
    assert match is not None and match.track_id == ids[3]
    assert match.offset_s == pytest.approx(3.0, abs=0.5)


async def test_concurrent_builds_end_with_one_whole_file(
    db: Database, app_settings: Settings, tmp_path: Path
) -> None:
    await add(db, write(tmp_path / "a.wav", catalog_song(0, SONG_S)))
    folder = snapshot_mod.snapshot_dir(app_settings)
    # two builders racing past the in-process lock (as two processes would)
    one, two = await asyncio.gather(
        snapshot_mod._build(db, app_settings, folder),
        snapshot_mod._build(db, app_settings, folder),
    )
    assert one == two
    assert snapshot_files(app_settings) == [one.path.name]  # no temp file left behind
    assert Index.load(one.path).version == one.version
    # and a cache miss from a fresh process state reads the version back from the file
    snapshot_mod._versions.clear()
    assert await ensure_snapshot(db, app_settings) == one


async def test_a_damaged_cached_file_is_rebuilt(
    db: Database, app_settings: Settings, tmp_path: Path
) -> None:
    await add(db, write(tmp_path / "a.wav", catalog_song(0, SONG_S)))
    snap = await ensure_snapshot(db, app_settings)
    snap.path.write_bytes(b"junk")
    snapshot_mod._versions.clear()
    rebuilt = await ensure_snapshot(db, app_settings)
    assert rebuilt == snap and Index.load(rebuilt.path).n_tracks == 1


async def test_a_catalog_change_during_the_read_is_read_again(
    db: Database, app_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add(db, write(tmp_path / "a.wav", catalog_song(0, SONG_S)))
    real = snapshot_mod._stream_prints
    calls = 0

    def racing(db_: Database, loop: asyncio.AbstractEventLoop) -> Iterator[tuple[int, bytes]]:
        nonlocal calls
        calls += 1
        for item in real(db_, loop):
            yield item
            if calls == 1:  # another process changes the catalog while we read it
                bump = db_.fetchval("catalog_bump_revision")
                asyncio.run_coroutine_threadsafe(bump, loop).result()

    monkeypatch.setattr(snapshot_mod, "_stream_prints", racing)
    snap = await ensure_snapshot(db, app_settings)
    assert calls == 2 and snap.revision == 2
