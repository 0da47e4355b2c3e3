"""Hostile text and ranges in reports, over a real orchestrator app and PostgreSQL:
formula-like titles and station names, control characters in stations' titles,
dates at the edge of the calendar and zones PostgreSQL does not know."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .orch_support import SimWorker, fast_settings, orchestrator, settle

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
        plays = await orch.admin("GET", "/reports/plays", params={**span, "tz": "UTC"})
        assert plays.status_code == 200, plays.text
        (row,) = _rows(plays.text)
        assert (row["station"], row["title"]) == ("'" + STATION, "'" + TITLE)
        assert row["utc_offset"] == "+00:00"
        check = await orch.admin("GET", "/reports/metadata-check", params=span)
        assert check.status_code == 200, check.text
        titles = [x["metadata_title"] for x in _rows(check.text) if x["metadata_title"]]
        assert titles and all(t.startswith("'=HYPERLINK") for t in titles), titles
