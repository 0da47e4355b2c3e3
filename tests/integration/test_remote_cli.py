"""The admin CLI on a machine with only AIRTRACK_ORCHESTRATOR_URL and AIRTRACK_ADMIN_TOKEN:
a real orchestrator process, the CLI with an environment that has no way to the database
(no URL, an empty home, PG* variables pointing nowhere): as real subprocesses for the
first test, in this process (the same variables, set for each command) for the rest."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import psycopg
import pytest

from airtrack.db import Database
from airtrack.settings import load_settings
from tests.support.cli import invoke_cli
from tests.support.orchestrator import Replica

from .reports_support import NY, PARIS, seed
from .test_catalog_support import catalog_song, write

ADMIN = "remote-admin-token"


@contextmanager
def _orchestrator(db_url: str, tmp_path: Path, **extra: str) -> Iterator[str]:
    """A real orchestrator process on the test database; its URL."""
    asyncio.run(_seed(db_url, tmp_path))
    env = {"AIRTRACK_ADMIN_TOKEN": ADMIN, "AIRTRACK_WORKER_TOKEN": "remote-worker-token", **extra}
    rep = Replica(
        db_url,
        tmp_path / "server-home",
        tmp_path / "orchestrator.log",
        env,
        fast_timers=False,
    )
    try:
        rep.wait_ready(timeout=60)
        yield rep.url
    finally:
        rep.stop()


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    with _orchestrator(db_url, tmp_path) as url:
        yield url


async def _seed(db_url: str, tmp_path: Path) -> None:
    async with Database(db_url, load_settings(home=tmp_path / "seed")) as db:
        await seed(db)


def _laptop(tmp_path: Path, server: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRTRACK_", "PG"))}
    env.update(
        {
            "AIRTRACK_ORCHESTRATOR_URL": server,
            "AIRTRACK_ADMIN_TOKEN": ADMIN,
            "AIRTRACK_HOME": str(tmp_path / "laptop-home"),
            "PGHOST": "/nonexistent",
            "PGPORT": "1",
        }
    )
    return env


@pytest.fixture
def laptop(tmp_path: Path, server: str) -> dict[str, str]:
    """The CLI's environment: the API and the admin token, and nothing else that could
    lead to a database."""
    return _laptop(tmp_path, server)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The command in this process with the laptop's variables alone (the test's own
    ``AIRTRACK_*`` and ``PG*`` unset for its run): its logic is under test."""
    own: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PG")}
    own |= {k: v for k, v in env.items() if k.startswith(("AIRTRACK_", "PG"))}
    return invoke_cli(*args, env=own)


def cli_process(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The command as a real subprocess with exactly ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "airtrack", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_admin_commands_work_remotely_without_a_database(
    laptop: dict[str, str], tmp_path: Path
) -> None:
    """Real subprocesses: a laptop's environment is all the process has."""
    r = cli_process(laptop, "streams", "add", "http://127.0.0.1:9/x", "--name", "Remote FM")
    assert r.returncode == 0, r.stderr
    r = cli_process(laptop, "streams", "list", "--json")
    assert r.returncode == 0, r.stderr
    assert {s["name"] for s in json.loads(r.stdout)} == {NY, PARIS, "Remote FM"}

    r = cli_process(laptop, "plays", "--format", "json", "--stream", PARIS, "--limit", "2")
    assert r.returncode == 0, r.stderr
    assert [p["stream"] for p in json.loads(r.stdout)] == [PARIS, PARIS]
    r = cli_process(laptop, "plays", "--until", "2026-03-01T12:00:00Z", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 1 + 3  # header + p1, p2, p4

    out = tmp_path / "march.xlsx"
    r = cli_process(laptop, "report", "plays", "--from", "2026-03-01", "--to", "2026-03-01",
                    "--stream", PARIS, "--format", "xlsx", "--output", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    ws = openpyxl.load_workbook(out)["plays"]
    assert [c.value for c in ws["B"]][1:] == [PARIS, PARIS]

    r = cli_process(laptop, "report", "summary", "--from", "2026-03-01", "--to", "2026-03-01")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("station,track_id,")

    r = cli_process(laptop, "status")
    assert r.returncode == 0, r.stderr
    assert "3 total" in r.stdout
    r = cli_process(laptop, "diagnose", "--json")
    assert r.returncode in (0, 1), r.stderr
    assert "findings" in json.loads(r.stdout)

    r = cli_process(laptop, "streams", "remove", "Remote FM")
    assert r.returncode == 0, r.stderr

    # a command with no remote form yet says so instead of making a database here
    r = cli_process(laptop, "catalog", "remove", "1")
    assert (
        r.returncode == 1 and "`airtrack catalog remove` is not available over the API" in r.stderr
    ), r.stderr

    # nothing on this machine: no embedded database was started or created
    assert not (tmp_path / "laptop-home" / "pg").exists()


def test_remote_bad_input_is_one_line_and_nothing_written(
    laptop: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "never.csv"
    cases = [
        (["--stream", "Nope"], "no stream named 'Nope'"),
        (["--tz", "Mars/Olympus"], "unknown time zone"),
    ]
    for extra, message in cases:
        r = cli(laptop, "report", "plays", "--from", "2026-03-01", "--to", "2026-03-01",
                "--output", str(out), *extra)  # fmt: skip
        assert r.returncode != 0
        assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not out.exists()
        assert not list(tmp_path.glob(".never.csv*"))
    r = cli(laptop, "plays", "--stream", "Nope")
    assert r.returncode != 0 and "no stream named 'Nope'" in r.stderr
    bad = dict(laptop, AIRTRACK_ADMIN_TOKEN="wrong")
    r = cli(bad, "streams", "list")
    assert r.returncode != 0 and "invalid token" in r.stderr


def test_catalog_add_uploads_prints_not_audio(laptop: dict[str, str], tmp_path: Path) -> None:
    music = tmp_path / "music"
    write(music / "Remote Band - Remote Song.wav", catalog_song(7, 20.0))
    r = cli(laptop, "catalog", "add", "--jobs", "0", str(music))
    assert r.returncode == 0, r.stderr
    assert "1 added" in r.stdout
    r = cli(laptop, "catalog", "add", "--jobs", "0", str(music))
    assert r.returncode == 0 and "1 duplicate" in r.stdout, r.stdout
    assert not (tmp_path / "laptop-home" / "pg").exists()


def test_a_report_broken_off_by_the_server_leaves_no_file(db_url: str, tmp_path: Path) -> None:
    # A report cap no read can meet: the database cancels the export once it has begun.
    with _orchestrator(
        db_url, tmp_path, AIRTRACK_REPORT_TX_MAX_S="0.000001", AIRTRACK_REPORT_BATCH_ROWS="1"
    ) as url:
        out = tmp_path / "broken.csv"
        r = cli(_laptop(tmp_path, url), "report", "plays", "--from", "2026-03-01",
                "--to", "2026-03-01", "--output", str(out))  # fmt: skip
        assert r.returncode != 0, r.stdout
        assert "broke off the response" in r.stderr, r.stderr
        assert r.stderr.startswith("airtrack: ") and len(r.stderr.strip().splitlines()) == 1
        assert not out.exists() and not list(tmp_path.glob(".broken.csv*"))


def test_catalog_and_station_metadata_commands_work_remotely(
    laptop: dict[str, str], tmp_path: Path
) -> None:
    r = cli(laptop, "catalog", "list", "--json", "--search", "Song One")
    assert r.returncode == 0, r.stderr
    (one,) = json.loads(r.stdout)
    assert one["isrc"] and one["title"] == "Song One"
    r = cli(laptop, "catalog", "show", str(one["id"]))
    assert r.returncode == 0 and "Song One" in r.stdout, r.stderr
    r = cli(laptop, "catalog", "edit", str(one["id"]), "--label", "Remote Label")
    assert r.returncode == 0, r.stderr
    assert "Remote Label" in r.stdout and "changed 1 track" in r.stdout
    r = cli(laptop, "catalog", "show", str(one["id"]), "--json")
    assert json.loads(r.stdout)["label"] == "Remote Label"
    r = cli(laptop, "catalog", "show", "999999")
    assert r.returncode == 1 and "no track #999999" in r.stderr

    good = tmp_path / "meta.csv"
    good.write_text(f"track_id,album\n{one['id']},Remote Album\n")
    r = cli(laptop, "catalog", "import-metadata", str(good), "--dry-run")
    assert r.returncode == 0 and "would change 1 track" in r.stdout, r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(f"track_id,isrc\n{one['id']},not-an-isrc\n999999,\n")
    r = cli(laptop, "catalog", "import-metadata", str(bad))
    assert r.returncode == 1, r.stdout
    assert "line 2" in r.stderr and "line 3" in r.stderr, r.stderr
    r = cli(laptop, "catalog", "show", str(one["id"]), "--json")
    assert json.loads(r.stdout)["album"] != "Remote Album", "dry run and refusal wrote nothing"

    r = cli(laptop, "streams", "edit", PARIS, "--timezone", "Europe/Lisbon")
    assert r.returncode == 0, r.stderr
    stations = tmp_path / "stations.csv"
    stations.write_text("name,url,timezone\nRemote Two,http://127.0.0.1:9/r2,Asia/Tokyo\n")
    r = cli(laptop, "streams", "import", str(stations))
    assert r.returncode == 0, r.stderr
    r = cli(laptop, "streams", "list", "--json")
    zones = {s["name"]: s["timezone"] for s in json.loads(r.stdout)}
    assert zones[PARIS] == "Europe/Lisbon" and zones["Remote Two"] == "Asia/Tokyo"
    assert not (tmp_path / "laptop-home" / "pg").exists(), "no database on the laptop"


def test_remote_status_prints_the_same_uptime_table_as_local(
    laptop: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    # Paris FM, last 10 h: up 6 h, down 3 h, up 1 h again → 70 % in both windows.
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO stream_state_log (stream_id, at, state, cause)"
            " SELECT s.id, now() - make_interval(hours => h), st, 'test'"
            " FROM streams s, (VALUES (10, 'up'), (4, 'down'), (1, 'up')) AS v (h, st)"
            " WHERE s.name = %s",
            (PARIS,),
        )
    local = {
        **{k: v for k, v in laptop.items() if not k.startswith(("AIRTRACK_", "PG"))},
        "AIRTRACK_DATABASE_URL": db_url,
        "AIRTRACK_HOME": str(tmp_path / "server-side-home"),
    }
    tables = []
    for env in (dict(laptop, COLUMNS="200"), dict(local, COLUMNS="200")):
        r = cli(env, "status")
        assert r.returncode == 0, r.stderr
        assert "uptime 24 h" in r.stdout, r.stdout
        tables.append([line for line in r.stdout.splitlines() if "%" in line or " - " in line])
    remote, here = tables
    (paris,) = [line for line in remote if PARIS in line]
    assert paris.count("70.0 %") == 2, remote
    assert any(NY in line for line in remote), remote
    assert remote == here


def test_refused_plays_are_reviewed_remotely(
    laptop: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    """`plays refused list|accept|discard` work from a laptop (the admin routes)."""
    with psycopg.connect(db_url) as conn:
        (sid,) = conn.execute("SELECT min(id) FROM streams").fetchone() or (None,)
        ids = []
        for key in ("refused-title-a", "refused-title-b"):
            item = {
                "key": key,
                "stream_id": sid,
                "epoch": 1,
                "title": "Band - Tune",
                "at": "2026-01-01T12:00:00+00:00",
                "encoding": "utf-8",
                "artist": "Band",
                "song": "Tune",
            }
            row = conn.execute(
                "INSERT INTO refused_plays (kind, idempotency_key, stream_id, epoch, worker_id,"
                " reason, item) VALUES ('title', %s, %s, 1, 'w9', 'epoch_ahead', %s) RETURNING id",
                (key, sid, json.dumps(item)),
            ).fetchone()
            assert row is not None
            ids.append(int(row[0]))
    listed = cli(laptop, "plays", "refused", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(r["id"] for r in json.loads(listed.stdout)) == ids
    accepted = cli(laptop, "plays", "refused", "accept", str(ids[0]))
    assert accepted.returncode == 0, accepted.stderr
    assert f"#{ids[0]}: stored" in accepted.stdout
    discarded = cli(laptop, "plays", "refused", "discard", str(ids[1]))
    assert discarded.returncode == 0, discarded.stderr
    assert cli(laptop, "plays", "refused", "list", "--json").stdout.strip() == "[]"
    with psycopg.connect(db_url) as conn:
        titles = conn.execute(
            "SELECT idempotency_key, worker_id FROM stream_titles ORDER BY id"
        ).fetchall()
    assert titles == [("refused-title-a", "w9")]


def test_monthly_returns_and_stats_urls_work_remotely(
    laptop: dict[str, str], tmp_path: Path
) -> None:
    day = ["--from", "2026-03-01", "--to", "2026-03-01", "--stream", PARIS]
    r = cli(laptop, "report", "soundexchange", *day, "--category", "A", "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ParisFM20260301_20260301_A.txt").read_bytes() == (
        "NAME_OF_SERVICE|TRANSMISSION_CATEGORY|FEATURED_ARTIST|SOUND_RECORDING_TITLE|ISRC|"
        "ALBUM_TITLE|MARKETING_LABEL|ACTUAL_TOTAL_PERFORMANCES|PLAY_FREQUENCY\r\n"
        "^Paris FM^|^A^|^Artist A^|^Song One^|^FRABC2600001^|^Album^|^Label^||1\r\n"
        "^Paris FM^|^A^|^Artist B^|^Song Two^|^^|^^|^^||1\r\n"
    ).encode("ascii")
    assert "Artist B - Song Two (1 play)" in r.stderr

    r = cli(laptop, "report", "plays", *day, "--template", "bmi-log")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "Date\tTime\tTitle\tArtist",
        "03/01/2026\t00:00:00\tSong One\tArtist A",
        "03/01/2026\t11:00:00\tSong Two\tArtist B",
    ]

    secret = "http://admin:hackme-remote@127.0.0.1:8000/status-json.xsl"
    r = cli(laptop, "streams", "edit", PARIS, "--stats-url", secret)
    assert r.returncode == 0, r.stderr
    assert "hackme-remote" not in r.stdout and "//***@127.0.0.1:8000" in r.stdout
    r = cli(laptop, "streams", "list", "--json")
    assert r.returncode == 0 and "hackme-remote" not in r.stdout, r.stdout


def test_webhooks_work_remotely(laptop: dict[str, str], tmp_path: Path) -> None:
    hook = "http://127.0.0.1:9/a/rather/long/path/for/a/receiver/that/must/stay/whole"
    r = cli(laptop, "webhooks", "add", hook, "--events", "play.started", "--stream", PARIS)
    assert r.returncode == 0, r.stderr
    assert f"streams: {PARIS}" in r.stdout and "secret: whsec_" in r.stdout, r.stdout
    r = cli(laptop, "webhooks", "list", "--json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert (row["url"], row["events"], row["streams"]) == (hook, ["play.started"], [PARIS])
    r = cli(laptop, "webhooks", "list")
    assert r.returncode == 0 and hook in r.stdout, r.stdout
    r = cli(laptop, "webhooks", "test", str(row["id"]))
    assert r.returncode == 1 and "did not take" in r.stderr, r.stderr  # nothing on :9
    r = cli(laptop, "webhooks", "remove", str(row["id"]))
    assert r.returncode == 0, r.stderr
    r = cli(laptop, "webhooks", "remove", str(row["id"]))
    assert r.returncode == 1 and f"no webhook with id {row['id']}" in r.stderr, r.stderr
    assert json.loads(cli(laptop, "webhooks", "list", "--json").stdout) == []
    assert not (tmp_path / "laptop-home" / "pg").exists()


def test_database_commands_refuse_by_name_on_a_laptop(tmp_path: Path) -> None:
    """Only the remote variables set: no command creates or starts an embedded database;
    each one without an API form says which it is (before any call to the API)."""
    laptop = _laptop(tmp_path, "http://127.0.0.1:9")
    for args in (["catalog", "reindex"], ["db", "migrate"], ["db", "url"]):
        r = cli(laptop, *args)
        name = " ".join(args)
        assert r.returncode == 1, (args, r.stdout)
        assert f"`airtrack {name}` is not available over the API" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        r = cli(laptop, "--local", *args)
        assert r.returncode == 1, (args, r.stdout)
        assert f"`airtrack --local {name}`" in r.stderr and "never creates one" in r.stderr
    assert not (tmp_path / "laptop-home").exists() or not any(
        p.name == "pg" for p in (tmp_path / "laptop-home").iterdir()
    )
