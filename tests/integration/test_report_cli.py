"""``airtrack report`` and ``airtrack plays`` on the local database (the commands run in
this process: their logic is under test, not the interpreter's start)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import openpyxl

from airtrack.db import Database
from airtrack.settings import load_settings
from tests.support.cli import invoke_cli

from .reports_support import NY, PARIS, seed


def _env(db_url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env.update({"AIRTRACK_DATABASE_URL": db_url, "AIRTRACK_HOME": str(home), **extra})
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return invoke_cli(*args, env={k: v for k, v in env.items() if k.startswith("AIRTRACK_")})


async def _seed(db_url: str, home: Path) -> dict[str, int]:
    async with Database(db_url, load_settings(home=home)) as db:
        return await seed(db)


def test_local_reports_to_files_and_stdout(db_url: str, tmp_path: Path) -> None:
    ids = asyncio.run(_seed(db_url, tmp_path))
    env = _env(db_url, tmp_path)
    day = ["--from", "2026-03-01", "--to", "2026-03-01"]
    r = cli(env, "report", "plays", *day)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [int(x["play_id"]) for x in rows] == [ids["p5"], ids["p1"], ids["p2"]]

    out = tmp_path / "summary.xlsx"
    r = cli(env, "report", "summary", *day, "--format", "xlsx", "--output", str(out))
    assert r.returncode == 0, r.stderr
    ws = openpyxl.load_workbook(out)["summary"]
    assert {ws.cell(i, 1).value for i in range(2, ws.max_row + 1)} == {
        PARIS,
        NY,
        "(all stations)",
    }
    assert list(tmp_path.glob(".summary.xlsx*")) == []

    r = cli(env, "report", "coverage", *day, "--stream", PARIS, "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["cause"] == "no worker"  # no ownership history at all

    r = cli(env, "plays", "--until", "2026-03-01T12:00:00Z", "--limit", "2", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert [p["id"] for p in json.loads(r.stdout)] == [ids["p2"], ids["p4"]]


def test_local_bad_input_leaves_nothing(db_url: str, tmp_path: Path) -> None:
    asyncio.run(_seed(db_url, tmp_path))
    env = _env(db_url, tmp_path)
    out = tmp_path / "out.csv"
    out.write_text("the previous report\n")
    for args, message in [
        (
            ["--from", "2026-03-01", "--to", "2026-03-01", "--stream", "Nope"],
            "no stream named 'Nope'",
        ),
        (["--from", "2026-03-05", "--to", "2026-03-01"], "empty or reversed range"),
        (["--from", "2026-03-01"], "--to is required"),
        (["--from", "2026-03-01", "--to", "2026-03-01", "--tz", "X/Y"], "unknown time zone"),
    ]:
        r = cli(env, "report", "plays", *args, "--output", str(out))
        assert r.returncode == 1, r.stderr
        assert r.stderr.startswith("airtrack: ") and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert out.read_text() == "the previous report\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []


def test_local_flag_wins_over_remote_variables(db_url: str, tmp_path: Path) -> None:
    asyncio.run(_seed(db_url, tmp_path))
    remote = {
        "AIRTRACK_ORCHESTRATOR_URL": "http://127.0.0.1:9",  # nothing listens there
        "AIRTRACK_ADMIN_TOKEN": "t",
    }
    env = _env(db_url, tmp_path, **remote)
    env.pop("AIRTRACK_DATABASE_URL")
    r = cli(env, "streams", "list")
    assert r.returncode == 1 and "cannot reach the orchestrator" in r.stderr, r.stderr
    env["AIRTRACK_DATABASE_URL"] = db_url  # a database URL: local
    r = cli(env, "streams", "list", "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == 2, r.stderr
    env.pop("AIRTRACK_DATABASE_URL")
    r = cli(env, "--local", "streams", "list")  # the database under AIRTRACK_HOME: none here
    assert r.returncode == 1 and "`airtrack --local streams list`" in r.stderr, r.stderr
    assert "never creates one" in r.stderr


async def _seed_open(db_url: str, home: Path) -> dict[str, int]:
    """The known log plus an airing still on air at Paris FM (started 12:00Z, no end)."""
    async with Database(db_url, load_settings(home=home)) as db:
        ids = await seed(db)

        async def fn(tx: Any) -> int:
            rows = await tx.execute_raw(
                "INSERT INTO plays (idempotency_key, stream_id, track_id, started_at, "
                "confidence, worker_id, epoch) VALUES ('open', %s, %s, "
                "'2026-03-01T12:00:00Z', 0.9, 'w1', 1) RETURNING id",
                (ids["paris"], ids["t1"]),
            )
            return int(rows[0]["id"])

        ids["open"] = await db.run("test_open_play", fn)
        return ids


def test_a_play_in_progress_is_left_out_or_marked_plainly(db_url: str, tmp_path: Path) -> None:
    """An airing still on air is not a finished play of 0 s: left out by default; with
    --include-open it has an empty end and duration and in_progress true (CSV and XLSX)."""
    ids = asyncio.run(_seed_open(db_url, tmp_path))
    env = _env(db_url, tmp_path)
    day = ["--from", "2026-03-01", "--to", "2026-03-01", "--stream", PARIS]
    r = cli(env, "report", "plays", *day)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [int(x["play_id"]) for x in rows] == [ids["p1"], ids["p2"]]
    assert {x["in_progress"] for x in rows} == {"false"}

    r = cli(env, "report", "plays", *day, "--include-open")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [int(x["play_id"]) for x in rows] == [ids["p1"], ids["p2"], ids["open"]]
    live = rows[-1]
    assert live["in_progress"] == "true"
    assert live["start_utc"] == "2026-03-01T12:00:00+00:00"
    assert (live["end_local"], live["end_utc"], live["duration_s"]) == ("", "", "")
    assert live["clipped"] == "false"

    out = tmp_path / "plays.xlsx"
    r = cli(env, "report", "plays", *day, "--include-open", "--format", "xlsx", "-o", str(out))
    assert r.returncode == 0, r.stderr
    ws = openpyxl.load_workbook(out)["plays"]
    header = [c.value for c in ws[1]]
    last = dict(zip(header, [c.value for c in ws[ws.max_row]], strict=True))
    assert last["play_id"] == ids["open"] and last["in_progress"] is True
    assert last["end_local"] is None and last["end_utc"] is None and last["duration_s"] is None

    r = cli(env, "report", "summary", "--from", "2026-03-01", "--to", "2026-03-01",
            "--include-open")  # fmt: skip
    assert r.returncode == 1 and "plays report only" in r.stderr, r.stderr
