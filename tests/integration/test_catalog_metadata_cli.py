"""End to end: ``airtrack catalog show/list/edit/import-metadata`` as
subprocesses, and ``/api/v1/catalog/tracks`` on a real orchestrator process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airtrack.db import Database

from .metadata_support import OrchestratorProcess, cli, insert_track


async def test_cli_show_list_edit_import(db: Database, db_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    t1 = await insert_track(db, "music/one.mp3", title="Blue Song")
    t2 = await insert_track(db, "music/two.mp3", title="Red Song")

    r = cli(
        db_url,
        home,
        "catalog",
        "edit",
        str(t1),
        "--isrc",
        "us-rc1-76-07839",
        "--composer",
        "Ann",
        "--composer",
        "Bob",
        "--year",
        "1976",
        "--meta",
        "mood=calm",
    )
    assert r.returncode == 0, r.stderr
    assert "isrc: – → USRC17607839" in r.stdout
    r = cli(db_url, home, "catalog", "show", str(t1), "--json")
    shown = json.loads(r.stdout)
    assert (shown["isrc"], shown["composers"], shown["release_year"], shown["extra"]) == (
        "USRC17607839",
        ["Ann", "Bob"],
        1976,
        {"mood": "calm"},
    )
    r = cli(db_url, home, "catalog", "list", "--json", "--search", "usrc176")
    assert [t["id"] for t in json.loads(r.stdout)] == [t1]

    r = cli(db_url, home, "catalog", "edit", str(t2), "--isrc", "USRC17607839")
    assert r.returncode == 1
    assert f"ISRC USRC17607839 would also be on track #{t1}" in r.stderr
    r = cli(db_url, home, "catalog", "edit", str(t2), "--iswc", "T-034524680-2")
    assert r.returncode == 1 and "check digit is 2, should be 1" in r.stderr
    r = cli(db_url, home, "catalog", "show", "424242")
    assert r.returncode == 1 and "no track #424242" in r.stderr

    good = tmp_path / "good.csv"
    good.write_text("source,label\nmusic/two.mp3,Red Label\nmusic/one.mp3,Blue Label\n")
    r = cli(db_url, home, "catalog", "import-metadata", str(good), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would change 2 tracks (dry run: nothing written)" in r.stdout
    r = cli(db_url, home, "catalog", "show", str(t2), "--json")
    assert json.loads(r.stdout)["label"] is None
    r = cli(db_url, home, "catalog", "import-metadata", str(good))
    assert r.returncode == 0 and "changed 2 tracks" in r.stdout
    r = cli(db_url, home, "catalog", "show", str(t2), "--json")
    assert json.loads(r.stdout)["label"] == "Red Label"

    bad = tmp_path / "bad.csv"
    bad.write_text(f"track_id,isrc,label\n{t2},bad-isrc,X\n999999,,Y\n{t1},,Z\n")
    r = cli(db_url, home, "catalog", "import-metadata", str(bad))
    assert r.returncode == 1
    assert "2 bad lines: nothing was changed" in r.stderr
    assert "line 2: isrc: invalid ISRC 'bad-isrc'" in r.stderr
    assert "line 3: no track with #999999" in r.stderr
    r = cli(db_url, home, "catalog", "show", str(t1), "--json")
    assert json.loads(r.stdout)["label"] == "Blue Label"

    huge = tmp_path / "huge.csv"
    with huge.open("wb") as fh:
        fh.truncate(100 * 1024 * 1024)  # 100 MB (sparse): refused before it is read
    r = cli(db_url, home, "catalog", "import-metadata", str(huge))
    assert r.returncode == 1 and "the limit is 10,485,760" in r.stderr


@pytest.fixture
def orch(db_url: str, tmp_path: Path) -> Iterator[OrchestratorProcess]:
    proc = OrchestratorProcess(db_url, tmp_path / "orch-home")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


async def test_api_catalog_tracks_on_a_real_orchestrator(
    db: Database, orch: OrchestratorProcess
) -> None:
    t1 = await insert_track(db, "music/one.mp3", title="Blue Song")
    t2 = await insert_track(db, "music/two.mp3", title="Red Song")
    api = orch.http

    r = api.patch(f"/catalog/tracks/{t1}", json={"isrc": "us-rc1-76-07839", "extra": {"k": "v"}})
    assert r.status_code == 200, r.text
    assert r.json()["tracks"][0]["changes"]["isrc"] == {"from": None, "to": "USRC17607839"}
    assert api.get(f"/catalog/tracks/{t1}").json()["isrc"] == "USRC17607839"
    assert [t["id"] for t in api.get("/catalog/tracks", params={"search": "red"}).json()] == [t2]

    r = api.patch(f"/catalog/tracks/{t2}", json={"isrc": "nope"})
    assert r.status_code == 422 and r.json()["detail"].startswith("invalid ISRC 'nope'")
    r = api.patch(f"/catalog/tracks/{t2}", json={"isrc": "USRC17607839"})
    assert r.status_code == 422 and f"would also be on track #{t1}" in r.json()["detail"]
    assert api.get("/catalog/tracks/99999999").status_code == 404
    assert api.patch("/catalog/tracks/99999999", json={"label": "x"}).status_code == 404
    assert api.get("/catalog/tracks/99999999999999999999").status_code == 404
    assert api.patch(f"/catalog/tracks/{t1}", json={"extra": {"k": "\x00"}}).status_code == 422
    r = api.patch(f"/catalog/tracks/{t1}", json={"composers": ["a\x00"]})
    assert r.status_code == 422
    assert api.get("/catalog/tracks", params={"search": "\x00"}).status_code == 200

    csv = f"track_id,label\n{t1},A\n{t2},B\n".encode()
    r = api.post("/catalog/tracks/import-metadata", content=csv, params={"dry_run": "true"})
    assert r.status_code == 200 and len(r.json()["tracks"]) == 2
    assert api.get(f"/catalog/tracks/{t2}").json()["label"] is None
    r = api.post("/catalog/tracks/import-metadata", content=csv)
    assert r.status_code == 200
    assert api.get(f"/catalog/tracks/{t2}").json()["label"] == "B"

    r = api.post("/catalog/tracks/import-metadata", content=b"track_id,label\n1,\xe9\n")
    assert r.status_code == 422 and "line 2: not UTF-8" in r.json()["detail"]
    r = api.post("/catalog/tracks/import-metadata", content=f"track_id,label\n{t1},C\n7777,D\n")
    assert r.status_code == 422
    assert r.json()["problems"] == ["line 3: no track with #7777"]
    assert api.get(f"/catalog/tracks/{t1}").json()["label"] == "A"
