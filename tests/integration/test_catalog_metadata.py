"""Rights metadata from tags at ``catalog add``, edits, and the CSV import
(all or nothing, every bad line named), on real files and a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mutagen.id3 import ID3, TALB, TCOM, TDRC, TPUB, TSRC, TXXX
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.oggopus import OggOpus

from airtrack.catalog import discover, ingest
from airtrack.catalog.edit import apply_track_changes, edit_track, parse_metadata_csv
from airtrack.catalog.store import get_track, list_tracks
from airtrack.db import Database
from airtrack.errors import CatalogError, MetadataImportError, UnknownTrack

from .metadata_support import insert_track, write_m4a
from .test_catalog_support import catalog_song, write

LIMIT = 1 << 20


def tag_mp3(path: Path) -> None:
    tags = ID3()
    tags.add(TSRC(encoding=3, text="us-rc1-76-07839"))
    tags.add(TALB(encoding=3, text="Mp3 Album"))
    tags.add(TPUB(encoding=3, text="Mp3 Label"))
    tags.add(TCOM(encoding=3, text=["Ann Writer", "Bob Writer"]))
    tags.add(TDRC(encoding=3, text="1976-05-01"))
    tags.add(TXXX(encoding=3, desc="ISWC", text="T0345246801"))
    tags.save(str(path))


def tag_ogg(path: Path) -> None:
    f = OggOpus(str(path))
    f["ISRC"] = "GBAYE0000351"
    f["ALBUM"] = "Ogg Album"
    f["LABEL"] = "Ogg Label"
    f["COMPOSER"] = ["Cy Writer"]
    f["DATE"] = "2001"
    f.save()


def tag_m4a(path: Path) -> None:
    f = MP4(str(path))
    f["\xa9alb"] = "M4a Album"
    f["\xa9wrt"] = "Di Writer"
    f["\xa9day"] = "1999-01-01T00:00:00Z"
    f["----:com.apple.iTunes:ISRC"] = [MP4FreeForm(b"FRZ039800212")]
    f["----:com.apple.iTunes:LABEL"] = [MP4FreeForm(b"M4a Label")]
    f.save()


async def test_catalog_add_stores_tags_of_mp3_ogg_m4a(db: Database, tmp_path: Path) -> None:
    mp3 = write(tmp_path / "a.mp3", catalog_song(0, 8.0))
    ogg = write(tmp_path / "b.ogg", catalog_song(1, 8.0))
    m4a = write_m4a(tmp_path / "c.m4a", catalog_song(2, 8.0))
    bad = write(tmp_path / "d.mp3", catalog_song(3, 8.0))
    tag_mp3(mp3)
    tag_ogg(ogg)
    tag_m4a(m4a)
    tags = ID3()
    tags.add(TSRC(encoding=3, text="not-an-isrc"))
    tags.add(TALB(encoding=3, text="Kept"))
    tags.save(str(bad))
    # another recording's file carrying a.mp3's ISRC: added, without the code
    twin = write(tmp_path / "e.mp3", catalog_song(4, 8.0))
    tags = ID3()
    tags.add(TSRC(encoding=3, text="USRC17607839"))
    tags.save(str(twin))

    summary = await ingest(db, discover([str(tmp_path)]), jobs=0)
    assert summary.added == 5 and summary.failed == 0
    got = {Path(t.source).name: t for t in await list_tracks(db)}
    a, b, c, d = got["a.mp3"], got["b.ogg"], got["c.m4a"], got["d.mp3"]
    assert (a.isrc, a.iswc, a.album, a.label) == (
        "USRC17607839",
        "T-034524680-1",
        "Mp3 Album",
        "Mp3 Label",
    )
    assert (a.composers, a.release_year) == (("Ann Writer", "Bob Writer"), 1976)
    assert (b.isrc, b.album, b.label, b.composers, b.release_year) == (
        "GBAYE0000351",
        "Ogg Album",
        "Ogg Label",
        ("Cy Writer",),
        2001,
    )
    assert (c.isrc, c.album, c.label, c.composers, c.release_year) == (
        "FRZ039800212",
        "M4a Album",
        "M4a Label",
        ("Di Writer",),
        1999,
    )
    # a malformed identifier in a tag is dropped; the song and its other tags are kept
    assert (d.isrc, d.album) == (None, "Kept")
    assert got["e.mp3"].isrc is None


async def test_edit_sets_normalised_fields_and_refuses_bad_values(db: Database) -> None:
    tid = await insert_track(db, "x.mp3")
    other = await insert_track(db, "y.mp3", isrc="USRC17607839")
    result = await edit_track(db, tid, {"iswc": "T-034524680-1", "label": "L"}, {"mood": "calm"})
    assert set(result.changes) == {"iswc", "label", "extra"}
    track = await get_track(db, tid)
    assert track is not None
    assert (track.iswc, track.label, dict(track.extra)) == ("T-034524680-1", "L", {"mood": "calm"})

    with pytest.raises(CatalogError, match=f"ISRC USRC17607839 would also be on track #{other}"):
        await edit_track(db, tid, {"isrc": "USRC17607839"}, {})
    with pytest.raises(UnknownTrack, match="no track #999999"):
        await edit_track(db, 999999, {"label": "L"}, {})
    dry = await edit_track(db, tid, {"label": "M"}, {"mood": None}, dry_run=True)
    assert dry.changes == {"label": ("L", "M"), "extra": ({"mood": "calm"}, {})}
    again = await get_track(db, tid)
    assert again is not None and again.label == "L" and dict(again.extra) == {"mood": "calm"}


async def snapshot(db: Database) -> list[dict[str, Any]]:
    return [t.to_json() for t in await list_tracks(db)]


async def test_import_csv_applies_every_row_keyed_three_ways(db: Database) -> None:
    t1 = await insert_track(db, "music/one.mp3")
    await insert_track(db, "music/two.mp3")
    await insert_track(db, "music/three.mp3", isrc="GBAYE0000351")
    data = (
        "track_id,source,isrc,label,composers,release_year,extra.territory\n"
        f'{t1},,us-rc1-76-07839,Label One,"Lennon, John; McCartney, Paul",1969,PT\n'
    ).encode()
    changes, problems = parse_metadata_csv(data, LIMIT)
    assert problems == []
    [r] = await apply_track_changes(db, changes)
    assert r.line == 2 and r.changes["isrc"] == (None, "USRC17607839")
    one = await get_track(db, t1)
    assert one is not None and one.composers == ("Lennon, John", "McCartney, Paul")
    assert dict(one.extra) == {"territory": "PT"}

    by_source = b"source,album\nmusic/two.mp3,Two Album\n"
    by_isrc = b"isrc,album\nGB-AYE-00-00351,Three Album\n"
    for data in (by_source, by_isrc):
        changes, problems = parse_metadata_csv(data, LIMIT)
        assert problems == []
        await apply_track_changes(db, changes)
    albums = {t.source: t.album for t in await list_tracks(db, "album")}
    assert albums == {"music/two.mp3": "Two Album", "music/three.mp3": "Three Album"}
    assert [t.id for t in await list_tracks(db, "lennon")] == [t1]

    # a dry run reports the same change and writes nothing
    before = await snapshot(db)
    changes, _ = parse_metadata_csv(b"source,album\nmusic/two.mp3,Other\n", LIMIT)
    [dry] = await apply_track_changes(db, changes, dry_run=True)
    assert dry.changes == {"album": ("Two Album", "Other")}
    assert await snapshot(db) == before


async def test_import_csv_one_bad_row_rejects_the_file_listing_every_line(db: Database) -> None:
    t1 = await insert_track(db, "a.mp3")
    t2 = await insert_track(db, "b.mp3")
    t3 = await insert_track(db, "c.mp3")
    held = await insert_track(db, "d.mp3", isrc="FRZ039800212")
    data = (
        "track_id,isrc,label\n"
        f"{t1},,Fine Label\n"  # 2: good
        "987654,,Nobody\n"  # 3: unknown track
        f"{t2},USRC1760783,X\n"  # 4: invalid ISRC
        f"{t3},USRC17607839,X\n"  # 5: same ISRC as line 6
        f"{t2 + 1000},USRC17607839,X\n"  # 6: unknown track (its ISRC clash is moot)
        f"{t1},FRZ039800212,X\n"  # 7: t1 again, and an ISRC another track holds
        "oops\n"  # 8: wrong field count
    ).encode()
    before = await snapshot(db)
    changes, problems = parse_metadata_csv(data, LIMIT)
    with pytest.raises(MetadataImportError) as info:
        await apply_track_changes(db, changes, problems=problems)
    lines = info.value.problems
    assert [p.split(":")[0] for p in lines] == [
        "line 3",
        "line 4",
        "line 6",
        "line 7",
        "line 8",
    ], lines
    assert "no track with #987654" in lines[0]
    assert "invalid ISRC 'USRC1760783'" in lines[1]
    assert f"track #{t1} is also changed on line 2" in lines[3]
    assert "1 fields, the header has 3" in lines[4]
    assert "nothing was changed" in str(info.value)
    assert await snapshot(db) == before

    # two rows giving one ISRC to two tracks, or taking one another track keeps
    clash = f"track_id,isrc\n{t2},USRC17607839\n{t3},US-RC1-76-07839\n{t1},FRZ039800212\n"
    changes, problems = parse_metadata_csv(clash.encode(), LIMIT)
    with pytest.raises(MetadataImportError) as info:
        await apply_track_changes(db, changes, problems=problems)
    assert info.value.problems == [
        f"line 2: ISRC USRC17607839 would also be on track #{t3}",
        f"line 3: ISRC USRC17607839 would also be on track #{t2}",
        f"line 4: ISRC FRZ039800212 would also be on track #{held}",
    ]
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"label\nX\n", "line 1: no key column"),
        (b"", "the file is empty"),
        ("track_id,label\n1,Caf\u00e9\n".encode("latin-1"), "line 2: not UTF-8 text"),
        (b"track_id,label\n" + b"1,x\n" * 400_000, "the limit is 1,048,576"),
        (b"track_id,colour\n1,red\n", "the header is refused"),
        (b'track_id,label\n1,"unterminated\n', "malformed CSV"),
    ],
)
def test_import_csv_malformed_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(MetadataImportError, match=message):
        parse_metadata_csv(data, LIMIT)
