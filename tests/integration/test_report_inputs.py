"""Hostile text and ranges in reports, over a real orchestrator app and PostgreSQL:
formula-like titles and station names, control characters in stations' titles,
dates at the edge of the calendar and zones PostgreSQL does not know."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .orch_support import SimWorker, fast_settings, orchestrator, settle
from .reports_support import PARIS, seed
from .test_report_cli import _env, _seed, cli

DAY = {"from": "2026-03-01", "to": "2026-03-01"}
STATION = "@SUM(1+1)*cmd"
TITLE = "-2+3+cmd|' /C calc'!A0"
ICY = '=HYPERLINK("http://evil") - \x1b[2JSong\u202e\x01\x7f\x9b'


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_csv_reports_quote_formulas_and_titles_are_stored_without_controls(
    db_url: str, tmp_path: Path
) -> None:
    """Station names, catalog titles and stations' own titles that start like a formula
    reach CSV with a leading quote; control characters of a station's title are never
    stored."""
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        r = await orch.admin(
            "POST", "/streams", json={"name": STATION, "url": "http://127.0.0.1:9/a"}
        )
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        track = await orch.add_track(TITLE)
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        assert (await w.play(sid, track=track)).status_code == 200
        at = datetime.now(UTC) - timedelta(minutes=5)
        body = {
            "worker_id": w.id,
            "titles": [
                {
                    "key": uuid.uuid4().hex,
                    "stream_id": sid,
                    "epoch": w.running[sid],
                    "at": at.isoformat(),
                    "title": ICY,
                }
            ],
        }
        r = await orch.worker_call("POST", "/metadata", json=body, headers=w.auth)
        assert r.status_code == 200, r.text
        stored = await orch.db.run(
            "test_titles", lambda tx: tx.execute_raw("SELECT title FROM stream_titles")
        )
        assert [x["title"] for x in stored] == ['=HYPERLINK("http://evil") - [2JSong']

        today = datetime.now(UTC).date()
        span = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
        # the play is still on air (SimWorker sends no end): ask for open plays too
        params = {**span, "tz": "UTC", "include_open": "true"}
        plays = await orch.admin("GET", "/reports/plays", params=params)
        assert plays.status_code == 200, plays.text
        (row,) = _rows(plays.text)
        assert (row["station"], row["title"]) == ("'" + STATION, "'" + TITLE)
        assert row["utc_offset"] == "+00:00"
        check = await orch.admin("GET", "/reports/metadata-check", params=span)
        assert check.status_code == 200, check.text
        titles = [x["metadata_title"] for x in _rows(check.text) if x["metadata_title"]]
        assert titles and all(t.startswith("'=HYPERLINK") for t in titles), titles


EDGES = [
    {"from": "0001-01-01", "to": "2026-03-01"},
    {"from": "2026-03-01", "to": "9999-12-31"},
    {"from": "0001-01-01T00:00+14:00", "to": "2026-03-01"},
    {"from": "1969-12-31", "to": "2026-03-01"},
    {"from": "2026-03-01", "to": "2201-01-01"},
]
NOT_IN_POSTGRES = ["localtime", "posix/Europe/Paris", "right/UTC"]


async def test_dates_outside_the_years_and_zones_postgres_lacks_are_400(
    db_url: str, tmp_path: Path
) -> None:
    """The calendar's ends with a station zone overflowed (500); zones Python accepts and
    PostgreSQL does not broke the CSV mid-transfer or the XLSX with a 500: all are 400 now,
    before the response starts."""
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        await seed(orch.db)
        for report in ("plays", "summary", "coverage"):
            for span in EDGES:
                for fmt in ("csv", "xlsx"):
                    r = await orch.admin(
                        "GET", f"/reports/{report}", params={**span, "format": fmt}
                    )
                    assert r.status_code == 400, (report, span, fmt, r.text)
                    assert "out of range" in r.json()["detail"]
        ok = await orch.admin(
            "GET", "/reports/plays", params={"from": "1970-01-01", "to": "2200-12-31"}
        )
        assert ok.status_code == 200, ok.text
        for zone in NOT_IN_POSTGRES:
            for fmt in ("csv", "xlsx"):
                r = await orch.admin(
                    "GET", "/reports/plays", params={**DAY, "tz": zone, "format": fmt}
                )
                assert r.status_code == 400, (zone, fmt, r.text)
                assert "unknown time zone" in r.json()["detail"]
        # a station whose zone got in before these checks: the report names it
        await orch.db.run(
            "test_bad_zone",
            lambda tx: tx.execute_raw(
                "UPDATE streams SET timezone = 'posix/Europe/Paris' WHERE name = %s", (PARIS,)
            ),
        )
        r = await orch.admin("GET", "/reports/plays", params={**DAY, "format": "xlsx"})
        assert r.status_code == 400 and "posix/Europe/Paris" in r.json()["detail"], r.text


async def test_station_zones_must_be_known_to_postgres(db_url: str, tmp_path: Path) -> None:
    """Adding, editing or importing a station with a zone PostgreSQL lacks is a 422."""
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        pg = {r["name"] for r in await orch.db.fetch("time_zone_names")}
        # zones this machine's Python knows and its PostgreSQL does not (tzdata versions)
        python_only = sorted(zoneinfo.available_timezones() - pg)
        for i, zone in enumerate([*NOT_IN_POSTGRES, *python_only]):
            body = {"name": f"z{i}", "url": f"http://127.0.0.1:9/z{i}", "timezone": zone}
            r = await orch.admin("POST", "/streams", json=body)
            assert r.status_code == 422, (zone, r.text)
        r = await orch.admin(
            "POST", "/streams", json={"name": "ok", "url": "http://127.0.0.1:9/ok"}
        )
        assert r.status_code == 201, r.text
        for zone in [*NOT_IN_POSTGRES, *python_only]:
            r = await orch.admin("PATCH", "/streams/ok", json={"timezone": zone})
            assert r.status_code == 422, (zone, r.text)
            csv_file = f"name,url,timezone\nnew,http://127.0.0.1:9/new,{zone}\n"
            r = await orch.admin(
                "POST", "/streams/import", params={"filename": "s.csv"}, content=csv_file
            )
            assert r.status_code == 422, (zone, r.text)
            assert "line 2" in " ".join(r.json().get("problems", [])) + r.json()["detail"]
        r = await orch.admin("PATCH", "/streams/ok", json={"timezone": "Europe/Paris"})
        assert r.status_code == 200, r.text
        (stream,) = (await orch.admin("GET", "/streams")).json()
        assert stream["timezone"] == "Europe/Paris"


def test_cli_report_edges_are_one_line_errors(db_url: str, tmp_path: Path) -> None:
    """The real CLI: a date out of range or a zone PostgreSQL lacks is one line on stderr,
    exit 1, no traceback and no output file."""
    asyncio.run(_seed(db_url, tmp_path))
    env = _env(db_url, tmp_path)
    out = tmp_path / "r.csv"
    cases = [
        ["--from", "0001-01-01", "--to", "2026-03-01"],
        ["--from", "2026-03-01", "--to", "9999-12-31"],
        ["--from", "2026-03-01", "--to", "2026-03-01", "--tz", "posix/Europe/Paris"],
        ["--from", "2026-03-01", "--to", "2026-03-01", "--tz", "localtime", "--format", "xlsx"],
    ]
    for args in cases:
        r = cli(env, "report", "plays", *args, "--output", str(out))
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("airtrack: "), (args, r.stderr)
        assert "Traceback" not in r.stderr and not out.exists()
    r = cli(env, "streams", "add", "http://127.0.0.1:9/x", "--name", "x", "--timezone", "right/UTC")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
