"""The report routes over a real PostgreSQL: rows, local times, clipping, formats, errors."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl

from .orch_support import ADMIN, fast_settings, orchestrator
from .reports_support import ISRC, NY, PARIS, seed, seed_history

DAY = {"from": "2026-03-01", "to": "2026-03-01"}


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_plays_report_is_station_local_clipped_and_credited(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        ids = await seed(orch.db)
        r = await orch.admin("GET", "/reports/plays", params=DAY)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/csv")
        rows = _csv(r.text)
        # each station's own local day: NY 05:00Z..05:00Z, Paris 23:00Z..23:00Z
        assert [(x["station"], int(x["play_id"])) for x in rows] == [
            (NY, ids["p5"]),
            (PARIS, ids["p1"]),
            (PARIS, ids["p2"]),
        ]
        ny, p1, p2 = rows
        assert ny["start_local"] == "2026-03-01T10:00:00-05:00"
        assert ny["start_utc"] == "2026-03-01T15:00:00+00:00"
        assert ny["utc_offset"] == "-05:00"
        assert (ny["isrc"], ny["iswc"], ny["composer"]) == (ISRC, "T-123456789-0", "Ann; Bob")
        assert (ny["album"], ny["label"], ny["clipped"]) == ("Album", "Label", "false")
        assert float(ny["duration_s"]) == 240
        assert p1["clipped"] == "true"
        assert p1["start_local"] == "2026-03-01T00:00:00+01:00"  # cut at the range start
        assert float(p1["duration_s"]) == 180
        assert p2["clipped"] == "false" and float(p2["duration_s"]) == 210

        # an airing still on air: left out unless include_open, then plainly unfinished
        async def open_play(tx: Any) -> None:
            await tx.execute_raw(
                "INSERT INTO plays (idempotency_key, stream_id, track_id, started_at, "
                "confidence, worker_id, epoch) VALUES ('open', %s, %s, "
                "'2026-03-01T12:00:00Z', 0.9, 'w1', 1)",
                (ids["paris"], ids["t1"]),
            )

        await orch.db.run("test_open_play", open_play)
        again = await orch.admin("GET", "/reports/plays", params=DAY)
        assert _csv(again.text) == rows
        opened = await orch.admin("GET", "/reports/plays", params={**DAY, "include_open": "true"})
        live = _csv(opened.text)[-1]
        assert (live["in_progress"], live["end_utc"], live["duration_s"]) == ("true", "", "")
        assert {x["in_progress"] for x in rows} == {"false"}

        one = await orch.admin("GET", "/reports/plays", params={**DAY, "stream": PARIS})
        assert [x["station"] for x in _csv(one.text)] == [PARIS, PARIS]
        # --tz: the same UTC day everywhere (p1 ended 23:03Z the day before)
        utc_day = await orch.admin("GET", "/reports/plays", params={**DAY, "tz": "UTC"})
        assert sorted(int(x["play_id"]) for x in _csv(utc_day.text)) == sorted(
            [ids["p2"], ids["p3"], ids["p4"], ids["p5"]]
        )


async def test_json_by_accept_and_xlsx_typed_cells(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        await seed(orch.db)
        r = await orch.http.get(
            "/api/v1/reports/plays",
            params=DAY,
            headers={"Authorization": f"Bearer {ADMIN}", "Accept": "application/json"},
        )
        assert r.headers["content-type"] == "application/json"
        body = json.loads(r.text)
        assert [x["station"] for x in body] == [NY, PARIS, PARIS]
        assert body[1]["clipped"] is True and body[0]["confidence"] == 0.9

        x = await orch.admin("GET", "/reports/plays", params={**DAY, "format": "xlsx"})
        assert x.status_code == 200, x.text
        assert "attachment" in x.headers["content-disposition"]
        path = tmp_path / "plays.xlsx"
        path.write_bytes(x.content)
        book = openpyxl.load_workbook(path)
        assert book.sheetnames == ["plays"]
        ws = book["plays"]
        assert ws.freeze_panes == "A2"
        header = [c.value for c in ws[1]]
        first = dict(zip(header, [c.value for c in ws[2]], strict=True))
        assert first["station"] == NY
        assert first["start_local"] == datetime(2026, 3, 1, 10, 0)
        assert first["start_utc"] == datetime(2026, 3, 1, 15, 0)
        assert isinstance(first["duration_s"], int | float) and first["duration_s"] == 240
        assert first["clipped"] is False
        assert ws.max_row == 4


async def test_summary_per_station_and_across(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        await seed(orch.db)
        r = await orch.admin("GET", "/reports/summary", params={**DAY, "format": "json"})
        assert r.status_code == 200, r.text
        got = {(x["station"], x["title"]): (x["plays"], x["airtime_s"]) for x in r.json()}
        assert got == {
            (PARIS, "Song One"): (1, 180.0),  # clipped
            (PARIS, "Song Two"): (1, 210.0),
            (NY, "Song One"): (1, 240.0),
            ("(all stations)", "Song One"): (2, 420.0),
            ("(all stations)", "Song Two"): (1, 210.0),
        }
        ny = next(x for x in r.json() if x["station"] == NY)
        assert ny["first_airing"] == "2026-03-01T10:00:00-05:00"


async def test_coverage_from_ownership_and_status_history(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        ids = await seed(orch.db)
        await seed_history(orch.db, ids["paris"])
        r = await orch.admin(
            "GET", "/reports/coverage", params={**DAY, "stream": PARIS, "format": "json"}
        )
        assert r.status_code == 200, r.text
        rows = r.json()
        assert {(x["day"], x["monitored_s"], x["unmonitored_s"]) for x in rows} == {
            ("2026-03-01", 21 * 3600.0, 3 * 3600.0)
        }
        assert [(x["gap_start"], x["gap_end"], x["cause"]) for x in rows] == [
            ("2026-03-01T06:00:00+01:00", "2026-03-01T07:00:00+01:00", "no worker"),
            ("2026-03-01T13:00:00+01:00", "2026-03-01T14:00:00+01:00", "silence"),
            ("2026-03-01T14:00:00+01:00", "2026-03-01T15:00:00+01:00", "stream down"),
        ]
        # the days before the stream was added are not gaps: they are not reported
        early = await orch.admin(
            "GET",
            "/reports/coverage",
            params={"from": "2025-12-30", "to": "2026-01-02", "stream": PARIS, "format": "json"},
        )
        assert [x["day"] for x in early.json()] == ["2026-01-01", "2026-01-02"]
        assert early.json()[0]["monitored_s"] + early.json()[0]["unmonitored_s"] == 23 * 3600
        x = await orch.admin(
            "GET", "/reports/coverage", params={**DAY, "stream": PARIS, "format": "xlsx"}
        )
        path = tmp_path / "coverage.xlsx"
        path.write_bytes(x.content)
        ws = openpyxl.load_workbook(path)["coverage"]
        assert ws.cell(2, 3).value == 21 * 3600
        assert ws.cell(2, 2).value == datetime(2026, 3, 1)


async def test_bad_requests_are_400_with_one_clear_message(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        await seed(orch.db)
        cases = {
            "no stream named 'Nope'": {**DAY, "stream": "Nope"},
            "empty or reversed range": {"from": "2026-03-02", "to": "2026-03-01"},
            "--to is required": {"from": "2026-03-01"},
            "'Mars/Olympus': unknown time zone": {**DAY, "tz": "Mars/Olympus"},
            "--from '2026-13-01': not a date": {"from": "2026-13-01", "to": "2026-03-01"},
            "unknown format 'pdf'": {**DAY, "format": "pdf"},
        }
        for message, params in cases.items():
            for report in ("plays", "summary", "coverage"):
                r = await orch.admin("GET", f"/reports/{report}", params=params)
                assert r.status_code == (404 if "no stream named" in message else 400), r.text
                assert message in r.json()["detail"], (message, r.text)


async def test_plays_pages_with_cursor_and_filters(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        ids = await seed(orch.db)
        seen: list[int] = []
        cursor = None
        for _ in range(5):
            params: dict[str, str | int] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            r = await orch.admin("GET", "/plays", params=params)
            assert r.status_code == 200, r.text
            seen += [p["id"] for p in r.json()]
            cursor = r.headers.get("x-next-cursor")
            if not cursor:
                break
        order = ["p3", "p5", "p2", "p4", "p1"]  # newest first
        assert seen == [ids[k] for k in order]

        r = await orch.admin(
            "GET",
            "/plays",
            params={"until": "2026-03-01T12:00:00Z", "since": "2026-03-01T00:00:00Z"},
        )
        assert [p["id"] for p in r.json()] == [ids["p2"], ids["p4"]]
        r = await orch.admin("GET", "/plays", params={"isrc": ISRC})
        assert [p["id"] for p in r.json()] == [ids["p3"], ids["p5"], ids["p1"]]
        r = await orch.admin("GET", "/plays", params={"track_id": ids["t2"]})
        assert {p["isrc"] for p in r.json()} == {None} and len(r.json()) == 2
        for params, status, message in [
            ({"stream": "Nope"}, 404, "no stream named 'Nope'"),
            ({"track_id": 999999}, 404, "no track #999999"),
            ({"cursor": "!!!"}, 400, "invalid cursor"),
            ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, 400, "reversed"),
        ]:
            r = await orch.admin("GET", "/plays", params=params)
            assert r.status_code == status and message in r.json()["detail"], r.text
