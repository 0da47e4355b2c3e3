"""Station metadata on a real PostgreSQL — add with metadata, edit, import
(idempotent by name, all or nothing); the commands as subprocesses and the routes on a real
orchestrator process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airtrack.db import Database
from airtrack.errors import InputRefused, StreamExists, StreamImportError, UnknownStream
from airtrack.orchestrator.stream_edit import edit_stream, import_streams
from airtrack.orchestrator.stream_files import parse_streams
from airtrack.orchestrator.streams import list_streams

from .metadata_support import OrchestratorProcess, cli

LIMIT = 1 << 20

CSV = (
    "name,url,timezone,backup_urls,country,city,genre,extra.owner\n"
    "Antena,http://127.0.0.1:9/a,Europe/Lisbon,http://127.0.0.1:9/a2|http://127.0.0.1:9/a3,"
    "PT,Lisboa,news,RTP\n"
    "Beta,http://127.0.0.1:9/b,,,,,,\n"
)


async def streams(db: Database) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in await list_streams(db)}


async def do_import(db: Database, text: str, name: str, dry_run: bool = False) -> list[Any]:
    entries, problems = parse_streams(text.encode(), name, LIMIT)
    return await import_streams(db, entries, db.settings, dry_run=dry_run, problems=problems)


async def test_import_is_idempotent_by_name_and_all_or_nothing(db: Database) -> None:
    dry = await do_import(db, CSV, "s.csv", dry_run=True)
    assert [o.action for o in dry] == ["added", "added"]
    assert await streams(db) == {}

    first = await do_import(db, CSV, "s.csv")
    assert [o.action for o in first] == ["added", "added"]
    got = await streams(db)
    a = got["Antena"]
    assert (a["timezone"], a["country"], a["city"], a["genre"], a["extra"]) == (
        "Europe/Lisbon",
        "PT",
        "Lisboa",
        "news",
        {"owner": "RTP"},
    )
    assert a["backup_urls"] == ["http://127.0.0.1:9/a2", "http://127.0.0.1:9/a3"]
    assert got["Beta"]["timezone"] == "UTC"
    assert got["Beta"]["assignment_state"] == "unassigned"  # it has its assignment row, like `add`

    again = await do_import(db, CSV, "s.csv")
    assert [o.action for o in again] == ["unchanged", "unchanged"]
    assert len(await streams(db)) == 2

    # a playlist with a new URL for Beta updates only the URL; Antena's metadata stays
    m3u = "#EXTM3U\n#EXTINF:-1,Beta\nhttp://127.0.0.1:9/b-new\n#EXTINF:-1,Gama\nhttp://127.0.0.1:9/g\n"
    outcomes = await do_import(db, m3u, "s.m3u")
    assert [(o.name, o.action) for o in outcomes] == [("Beta", "updated"), ("Gama", "added")]
    assert outcomes[0].changes == {"url": ("http://127.0.0.1:9/b", "http://127.0.0.1:9/b-new")}
    assert (await streams(db))["Antena"]["genre"] == "news"

    before = await streams(db)
    bad = (
        "name,url,timezone\nBeta,http://127.0.0.1:9/b2,UTC\nDelta,http://127.0.0.1:9/d,Mars/Base\n"
    )
    with pytest.raises(StreamImportError) as info:
        await do_import(db, bad, "bad.csv")
    assert info.value.problems == [
        "line 3: unknown time zone 'Mars/Base': use an IANA name such as Europe/Lisbon or UTC"
    ]
    assert await streams(db) == before


async def test_edit_changes_fields_and_names_problems(db: Database) -> None:
    await do_import(db, CSV, "s.csv")
    out = await edit_stream(
        db, "Antena", {"timezone": "Atlantic/Azores"}, {"owner": None, "x": "1"}, db.settings
    )
    assert out.changes["timezone"] == ("Europe/Lisbon", "Atlantic/Azores")
    a = (await streams(db))["Antena"]
    assert (a["timezone"], a["extra"]) == ("Atlantic/Azores", {"x": "1"})
    with pytest.raises(UnknownStream, match="no stream named 'Nope'"):
        await edit_stream(db, "Nope", {"city": "Porto"}, {}, db.settings)
    with pytest.raises(StreamExists):
        await edit_stream(db, "Antena", {"name": "Beta"}, {}, db.settings)


async def test_import_and_edit_follow_the_stream_url_policy(db: Database) -> None:
    await do_import(db, CSV, "s.csv")
    before = await streams(db)
    bad = (
        "name,url,timezone\n"
        "Meta,http://169.254.169.254/latest,UTC\n"  # a cloud metadata address
        "Twin,http://127.0.0.1:9/b,UTC\n"  # Beta's URL
    )
    with pytest.raises(StreamImportError) as err:
        await do_import(db, bad, "bad.csv")
    lines = " | ".join(err.value.problems)
    assert "line 2" in lines and "link-local" in lines, lines
    assert await streams(db) == before, "nothing half-written"
    bad_one = "name,url,timezone\nTwin,http://127.0.0.1:9/b,UTC\n"
    with pytest.raises(StreamImportError, match="nothing was changed") as err:
        await do_import(db, bad_one, "twin.csv")
    assert "already has this URL" in err.value.problems[0]
    with pytest.raises(InputRefused, match="link-local"):
        await edit_stream(db, "Antena", {"url": "http://169.254.169.254/x"}, {}, db.settings)
    with pytest.raises(StreamExists, match="already has this URL"):
        await edit_stream(db, "Antena", {"url": "http://127.0.0.1:9/b"}, {}, db.settings)
    assert await streams(db) == before


def test_cli_streams_add_edit_import(db_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = cli(
        db_url,
        home,
        "streams",
        "add",
        "http://127.0.0.1:9/live",
        "--name",
        "Live FM",
        "--timezone",
        "Europe/Lisbon",
        "--backup-url",
        "http://127.0.0.1:9/b1",
        "--backup-url",
        "http://127.0.0.1:9/b2",
        "--meta",
        "city=Porto",
        "--meta",
        "owner=me",
    )
    assert r.returncode == 0, r.stderr
    r = cli(
        db_url,
        home,
        "streams",
        "add",
        "http://127.0.0.1:9/x",
        "--name",
        "X",
        "--timezone",
        "Europe/Lisboa",
    )
    assert r.returncode != 0 and "unknown time zone 'Europe/Lisboa'" in r.stderr
    r = cli(db_url, home, "streams", "list", "--json")
    [live] = json.loads(r.stdout)
    assert (live["timezone"], live["city"], live["extra"], live["backup_urls"]) == (
        "Europe/Lisbon",
        "Porto",
        {"owner": "me"},
        ["http://127.0.0.1:9/b1", "http://127.0.0.1:9/b2"],
    )

    r = cli(db_url, home, "streams", "edit", "Live FM", "--genre-typo", "x")
    assert r.returncode != 0
    r = cli(db_url, home, "streams", "edit", "Live FM", "--no-backup-urls", "--meta", "genre=jazz")
    assert r.returncode == 0, r.stderr
    assert "genre: – → jazz" in r.stdout
    r = cli(db_url, home, "streams", "edit", "Ghost", "--timezone", "UTC")
    assert r.returncode == 1 and "no stream named 'Ghost'" in r.stderr
    r = cli(db_url, home, "plays", "--stream", "Ghost")
    assert r.returncode == 1 and "no stream named 'Ghost'" in r.stderr

    pls = tmp_path / "list.pls"
    pls.write_text(
        "[playlist]\nFile1=http://127.0.0.1:9/one\nTitle1=One\n"
        "File2=http://127.0.0.1:9/live\nTitle2=Live FM\n"
    )
    r = cli(db_url, home, "streams", "import", str(pls), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "1 added, 0 updated, 1 unchanged (dry run: nothing written)" in r.stdout
    r = cli(db_url, home, "streams", "import", str(pls))
    assert "1 added, 0 updated, 1 unchanged" in r.stdout
    r = cli(db_url, home, "streams", "import", str(pls))
    assert "0 added, 0 updated, 2 unchanged" in r.stdout

    bad = tmp_path / "bad.m3u"
    bad.write_bytes(
        "#EXTM3U\n#EXTINF:-1,Nova\nhttp://127.0.0.1:9/n\n#EXTINF:-1,Rádio\n".encode("latin-1")
        + b"http://127.0.0.1:9/r\n"
    )
    r = cli(db_url, home, "streams", "import", str(bad))
    assert r.returncode == 1 and "line 4: not UTF-8 text" in r.stderr
    bad.write_text("#EXTM3U\n#EXTINF:-1,Nova\nhttp://127.0.0.1:9/n\nhttp://127.0.0.1:9/unnamed\n")
    r = cli(db_url, home, "streams", "import", str(bad))
    assert r.returncode == 1
    assert "1 bad line: nothing was changed" in r.stderr and "line 4:" in r.stderr
    r = cli(db_url, home, "streams", "list", "--json")
    assert sorted(s["name"] for s in json.loads(r.stdout)) == ["Live FM", "One"]
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as fh:
        fh.truncate(100 * 1024 * 1024)
    r = cli(db_url, home, "streams", "import", str(huge))
    assert r.returncode == 1 and "the limit is 10,485,760" in r.stderr


@pytest.fixture
def orch(db_url: str, tmp_path: Path) -> Iterator[OrchestratorProcess]:
    proc = OrchestratorProcess(db_url, tmp_path / "orch-home")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


def test_api_streams_metadata_on_a_real_orchestrator(orch: OrchestratorProcess) -> None:
    api = orch.http
    r = api.post(
        "/streams",
        json={
            "name": "A",
            "url": "http://127.0.0.1:9/a",
            "timezone": "America/Sao_Paulo",
            "city": "São Paulo",
        },
    )
    assert r.status_code == 201, r.text
    assert (r.json()["timezone"], r.json()["city"]) == ("America/Sao_Paulo", "São Paulo")
    r = api.post(
        "/streams", json={"name": "B", "url": "http://127.0.0.1:9/b", "timezone": "Nowhere"}
    )
    assert r.status_code == 422 and "unknown time zone 'Nowhere'" in r.text

    r = api.patch(
        "/streams/A", json={"backup_urls": ["http://127.0.0.1:9/a2"], "extra": {"k": "v"}}
    )
    assert r.status_code == 200, r.text
    r = api.patch("/streams/A", json={"timezone": "Mars/Base"})
    assert r.status_code == 422 and r.json()["detail"].startswith("unknown time zone")
    assert api.patch("/streams/Ghost", json={"city": "x"}).status_code == 404
    r = api.get("/plays", params={"stream": "Ghost"})
    assert r.status_code == 404 and r.json()["detail"] == "no stream named 'Ghost'"
    assert api.get("/plays", params={"stream": "A"}).json() == []
    # NUL cannot be stored: refused as the caller's mistake, never a 500
    assert api.get("/plays", params={"stream": "A\x00"}).status_code == 422  # NUL: refused as input
    assert api.patch("/streams/A", json={"extra": {"k": "v\x00"}}).status_code == 422
    assert api.patch("/streams/A%00", json={"city": "x"}).status_code == 404
    r = api.post(
        "/streams", json={"name": "N", "url": "http://127.0.0.1:9/n", "extra": {"k\x00": "v"}}
    )
    assert r.status_code == 422
    assert api.patch("/streams/A", json={"url": None}).status_code == 422

    body = "name,url\nA,http://127.0.0.1:9/a\nC,http://127.0.0.1:9/c\n"
    r = api.post("/streams/import", content=body, params={"format": "csv", "dry_run": "true"})
    assert r.status_code == 200, r.text
    assert [s["action"] for s in r.json()["streams"]] == ["unchanged", "added"]
    r = api.post("/streams/import", content=body, params={"filename": "list.csv"})
    assert [s["action"] for s in r.json()["streams"]] == ["unchanged", "added"]
    r = api.post(
        "/streams/import",
        content="[playlist]\nFile1=gopher://x\nTitle1=G\n",
        params={"format": "pls"},
    )
    assert r.status_code == 422 and r.json()["problems"][0].startswith("line 2:")
    r = api.post("/streams/import", content=b"\xff\xfe#\x00", params={"format": "m3u"})
    assert r.status_code == 422
    listed = {s["name"]: s for s in api.get("/streams").json()}
    assert sorted(listed) == ["A", "C"]
    assert listed["A"]["backup_urls"] == ["http://127.0.0.1:9/a2"]
    assert listed["A"]["extra"] == {"k": "v"}


async def test_assignments_carry_backup_urls_and_list_shows_the_url_in_use(
    db_url: str, tmp_path: Path
) -> None:
    from .orch_support import SimWorker, fast_settings, orchestrator, settle

    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        r = await orch.admin(
            "POST",
            "/streams",
            json={
                "name": "A",
                "url": "http://127.0.0.1:9/a",
                "backup_urls": ["http://127.0.0.1:9/b"],
            },
        )
        assert r.status_code == 201, r.text
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        [sid] = w.running
        r = await orch.worker_call(
            "POST",
            "/workers/w1/heartbeat",
            headers=w.auth,
            json={
                "streams": [
                    {
                        "stream_id": sid,
                        "epoch": w.running[sid],
                        "status": "running",
                        "url_in_use": "http://127.0.0.1:9/b",
                    }
                ]
            },
        )
        assert r.status_code == 200, r.text
        [a] = r.json()["assignments"]
        assert a["backup_urls"] == ["http://127.0.0.1:9/b"]
        [listed] = (await orch.admin("GET", "/streams")).json()
        assert listed["url_in_use"] == "http://127.0.0.1:9/b"

        # a change of backup URLs reaches the worker in its next heartbeat reply
        r = await orch.admin("PATCH", "/streams/A", json={"backup_urls": ["http://127.0.0.1:9/c"]})
        assert r.status_code == 200, r.text
        r = await w.heartbeat()
        assert r.json()["assignments"][0]["backup_urls"] == ["http://127.0.0.1:9/c"]
