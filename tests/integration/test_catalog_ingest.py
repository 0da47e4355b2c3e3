"""``catalog add`` on real files and a real database: dedupe, tags, sources, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from airtrack.catalog import ENGINE, FileResult, discover, ingest, list_tracks, remove_track
from airtrack.catalog.files import IngestSummary
from airtrack.db import Database
from airtrack.fingerprint import unpack_prints
from tests.integration.test_catalog_support import SR, catalog_song, write

SONG_S = 12.0


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """music/ with tagged and untagged songs in four formats, a sub-folder, odd names."""
    root = tmp_path_factory.mktemp("lib")
    music = root / "music"
    write(music / "Alpha Band - First Song.mp3", catalog_song(0, SONG_S))
    write(music / "tagged.ogg", catalog_song(1, SONG_S), title="Tagged Title", artist="Tag Artist")
    write(music / "sub dir" / "Ünïcødé – name [live].flac", catalog_song(2, SONG_S))
    write(music / "sub dir" / "plain.wav", catalog_song(3, SONG_S))
    (music / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (music / "notes.txt").write_text("liner notes")
    return root


async def run(
    db: Database, paths: list[str], jobs: int = 0
) -> tuple[IngestSummary, list[FileResult]]:
    results: list[FileResult] = []
    summary = await ingest(db, discover(paths), jobs=jobs, on_result=results.append)
    return summary, results


def by_source(results: list[FileResult]) -> dict[str, FileResult]:
    return {r.source: r for r in results}


async def revision(db: Database) -> int:
    return int(await db.fetchval("catalog_state") or 0)


async def test_ingest_folder_tags_sources_and_dedupe(
    db: Database, library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(library)
    summary, results = await run(db, ["music/", "./music/tagged.ogg"])
    got = by_source(results)
    assert summary.added == 4 and summary.failed == 0 and summary.ignored == 2
    assert summary.duplicates == 1 and summary.exit_code == 0
    # the folder's files keep the folder exactly as given ("music/"), a file as given
    assert got["music/tagged.ogg"].status == "added"
    dup = got["./music/tagged.ogg"]
    assert dup.status == "duplicate"
    assert dup.reason == f"duplicate of #{got['music/tagged.ogg'].track_id}"
    assert got["music/cover.jpg"].status == "ignored"

    rows = {r.source: r for r in await list_tracks(db)}
    assert set(rows) == {
        "music/Alpha Band - First Song.mp3",
        "music/tagged.ogg",
        "music/sub dir/Ünïcødé – name [live].flac",
        "music/sub dir/plain.wav",
    }
    first = rows["music/Alpha Band - First Song.mp3"]
    assert (first.artist, first.title) == ("Alpha Band", "First Song")
    tagged = rows["music/tagged.ogg"]
    assert (tagged.artist, tagged.title) == ("Tag Artist", "Tagged Title")
    odd = rows["music/sub dir/Ünïcødé – name [live].flac"]
    assert (odd.artist, odd.title) == (None, "Ünïcødé – name [live]")
    for row in rows.values():
        assert row.duration_s == pytest.approx(SONG_S, abs=0.2)

    # every track has prints of this engine, and the revision moved once per track
    prints = await db.fetch("catalog_prints_after", {"engine": ENGINE, "after": 0, "limit": 99})
    assert len(prints) == 4
    assert all(len(unpack_prints(bytes(p["prints"]))) > 100 for p in prints)
    assert await revision(db) == 4

    # adding everything again changes nothing
    again, results = await run(db, ["music"])
    assert (again.added, again.duplicates, again.failed) == (0, 4, 0)
    assert await revision(db) == 4


async def test_same_content_twice_in_one_batch(db: Database, tmp_path: Path) -> None:
    a = write(tmp_path / "a.mp3", catalog_song(0, SONG_S))
    b = tmp_path / "copy of a.mp3"
    b.write_bytes(a.read_bytes())
    summary, results = await run(db, [str(a), str(b)])
    assert (summary.added, summary.duplicates) == (1, 1)
    got = by_source(results)
    assert got[str(b)].reason == f"duplicate of #{got[str(a)].track_id}"


def _bad_inputs(folder: Path) -> dict[str, str]:
    """Bad files and the words their one-line reason must contain."""
    folder.mkdir()
    good = write(folder / "good.flac", catalog_song(1, SONG_S))
    (folder / "garbage.flac").write_bytes(np.random.default_rng(1).bytes(50_000))
    (folder / "text.mp3").write_text("this is a text file that pretends to be an mp3\n" * 50)
    (folder / "empty.mp3").write_bytes(b"")
    write(folder / "short.wav", catalog_song(2, 1.0))
    write(folder / "silence.wav", np.zeros(SR * 5, np.float32))
    data = good.read_bytes()
    (folder / "truncated.flac").write_bytes(data[: len(data) // 3])
    (folder / "no header.wav").write_bytes(b"RIFF" + data[4:2000])
    os.symlink(folder / "gone.mp3", folder / "broken link.mp3")
    os.mkfifo(folder / "pipe.mp3")  # must not be opened: reading it would hang
    return {
        "garbage.flac": "no decodable audio",
        "text.mp3": "cannot open as audio",
        "empty.mp3": "empty file",
        "short.wav": "only 1.0 s",
        "silence.wav": "no usable sound",
        "truncated.flac": "truncated",
        "no header.wav": "cannot",
        "broken link.mp3": "no such file",
        "pipe.mp3": "not a regular file",
    }


async def test_bad_inputs_each_get_a_reason_and_the_batch_goes_on(
    db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "bad"
    expected = _bad_inputs(folder)
    summary, results = await run(db, [str(folder), str(tmp_path / "missing.mp3")])
    got = {Path(r.source).name: r for r in results}
    assert got["good.flac"].status == "added"
    assert got["missing.mp3"].status == "failed"
    assert "no such file" in got["missing.mp3"].reason
    for name, words in expected.items():
        assert got[name].status == "failed", (name, got[name])
        assert words in got[name].reason, (name, got[name].reason)
        assert "\n" not in got[name].reason
        assert str(folder) not in got[name].reason  # the line names the file once, up front
    assert summary.failed == len(expected) + 1 and summary.added == 1
    assert summary.exit_code == 1
    assert [r.source for r in await list_tracks(db)] == [str(folder / "good.flac")]


async def test_thousands_of_files(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for d in range(10):
        sub = folder / f"d{d}"
        sub.mkdir(parents=True)
        for i in range(120):
            (sub / f"note {i}.txt").write_text("x")
        for i in range(10):
            (sub / f"fake {i}.mp3").write_text("not audio")
    write(folder / "d5" / "real song.mp3", catalog_song(0, SONG_S))
    summary, _results = await run(db, [str(folder)])
    assert summary.results_seen == 1301
    assert (summary.added, summary.ignored, summary.failed) == (1, 1200, 100)
    assert len(await list_tracks(db)) == 1


async def test_a_failing_write_leaves_nothing_half_written(db: Database, tmp_path: Path) -> None:
    """The prints insert fails for one track: its track row is rolled back with it."""
    await db.run(
        "test_poison",
        lambda tx: tx.execute_raw(
            """
            CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF (SELECT title FROM tracks WHERE id = NEW.track_id) = 'poison' THEN
                RAISE EXCEPTION 'poisoned track';
              END IF;
              RETURN NEW;
            END $$;
            CREATE TRIGGER poison BEFORE INSERT ON track_prints
              FOR EACH ROW EXECUTE FUNCTION poison();
            """
        ),
    )
    write(tmp_path / "1.mp3", catalog_song(0, SONG_S))
    write(tmp_path / "2.mp3", catalog_song(1, SONG_S), title="poison")
    write(tmp_path / "3.mp3", catalog_song(2, SONG_S))
    summary, results = await run(db, [str(tmp_path)])
    got = {Path(r.source).name: r for r in results}
    assert got["2.mp3"].status == "failed" and "poisoned track" in got["2.mp3"].reason
    assert (summary.added, summary.failed) == (2, 1)
    orphans = await db.run(
        "test_orphans",
        lambda tx: tx.execute_raw(
            "SELECT t.id FROM tracks t LEFT JOIN track_prints p ON p.track_id = t.id "
            "WHERE p.track_id IS NULL OR t.title = 'poison'"
        ),
    )
    assert orphans == []
    assert len(await list_tracks(db)) == 2
    assert await revision(db) == 2


async def test_process_pool_ingest(db: Database, tmp_path: Path) -> None:
    for i in range(4):
        write(tmp_path / f"Artist {i} - Song {i}.mp3", catalog_song(i, SONG_S))
    (tmp_path / "bad.mp3").write_text("nope")
    summary, _results = await run(db, [str(tmp_path)], jobs=2)
    assert (summary.added, summary.failed) == (4, 1)
    titles = sorted((r.artist, r.title) for r in await list_tracks(db))
    assert titles == [(f"Artist {i}", f"Song {i}") for i in range(4)]


async def test_old_engine_prints_are_renewed_and_remove_bumps_revision(
    db: Database, tmp_path: Path
) -> None:
    song = write(tmp_path / "song.wav", catalog_song(0, SONG_S))
    _, results = await run(db, [str(song)])
    track_id = results[0].track_id
    assert track_id is not None
    await db.run(
        "test_age_prints",
        lambda tx: tx.execute_raw("UPDATE track_prints SET engine = 'landmark-v0'"),
    )
    _summary, results = await run(db, [str(song)])
    assert results[0].status == "updated" and results[0].track_id == track_id
    engine = await db.run(
        "test_engine", lambda tx: tx.execute_raw("SELECT engine FROM track_prints")
    )
    assert engine == [{"engine": ENGINE}]
    before = await revision(db)
    removed = await remove_track(db, track_id)
    assert removed is not None and removed.source == str(song)
    assert await revision(db) == before + 1
    assert await remove_track(db, track_id) is None
    assert await list_tracks(db) == []


async def test_files_are_stored_in_listing_order_whichever_finishes_first(
    db: Database, tmp_path: Path
) -> None:
    """A long song listed first finishes fingerprinting after the short ones behind it:
    track ids still follow the listing (and of two files carrying one ISRC, the first
    listed keeps it, whatever the threads' timing)."""
    write(tmp_path / "a-long.wav", catalog_song(10, 150.0))
    for i, name in enumerate(("b", "c", "d")):
        write(tmp_path / f"{name}-short.wav", catalog_song(11 + i, 3.0))
    summary, results = await run(db, [str(tmp_path)], jobs=0)
    assert summary.added == 4
    assert [Path(r.source).name for r in results] == [
        "a-long.wav", "b-short.wav", "c-short.wav", "d-short.wav"
    ]  # fmt: skip
    tracks = sorted(await list_tracks(db), key=lambda t: t.id)
    assert [Path(t.source).name for t in tracks] == [Path(r.source).name for r in results]
