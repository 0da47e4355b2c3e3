"""The metadata cross-check over the database: each airing gets its class."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl

from airtrack.metadata.icy import TitleEvent
from airtrack.orchestrator.metadata_check import metadata_check, wish_list
from airtrack.protocol import TitleIn
from airtrack.worker.titles import TitleChanges, TitleReporter

from .orch_support import SimWorker, fast_settings, orchestrator, settle

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def _at(s: float) -> str:
    return (T0 + timedelta(seconds=s)).isoformat()


async def _post(w: SimWorker, path: str, key: str, items: list[dict[str, object]]) -> None:
    body = {"worker_id": w.id, key: items}
    r = await w.orch.worker_call("POST", f"/{path}", json=body, headers=w.auth)
    assert r.status_code == 200, r.text
    assert {x["status"] for x in r.json()["results"]} == {"stored"}


async def test_each_airing_is_classified(db_url: str, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path)
    async with orchestrator(db_url, settings) as orch:
        sid, quiet = await orch.add_streams(2, prefix="radio")
        a, b, c, d, e = [await orch.add_track(t) for t in ("Right", "Heard", "Jóga", "Ad", "Q")]
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        ep, quiet_ep = w.running[sid], w.running[quiet]

        def title(s: float, text: str | None, enc: str = "utf-8") -> dict[str, object]:
            return {
                "key": uuid.uuid4().hex,
                "stream_id": sid,
                "epoch": ep,
                "at": _at(s),
                "title": text,
                "encoding": enc,
            }

        def play(stream: int, epoch: int, track: int, s: float) -> dict[str, object]:
            return {
                "key": uuid.uuid4().hex,
                "stream_id": stream,
                "epoch": epoch,
                "track_id": track,
                "started_at": _at(s),
                "ended_at": _at(s + 170),
                "confidence": 0.9,
            }

        await _post(
            w,
            "metadata",
            "titles",
            [
                title(0, "Artist - Right (Radio Edit)"),
                title(180, "Somebody Else - Wrong Song"),
                title(360, "Artist - Jóga", "cp1252"),
                title(540, "Radio Demo FM"),
                title(720, "Unknown Band - Wish"),
                title(900, ""),
            ],
        )
        await _post(
            w,
            "plays",
            "plays",
            [
                play(sid, ep, a, 2),
                play(sid, ep, b, 182),
                play(sid, ep, c, 361),
                play(sid, ep, d, 545),
                play(quiet, quiet_ep, e, 10),  # a stream that sends no titles at all
            ],
        )
        rows = await metadata_check(orch.db, settings, start=T0, end=T0 + timedelta(hours=1))
        got = [(r.stream, r.kind, r.metadata_title, r.heard_title) for r in rows]
        assert got == [
            ("radio0", "confirmed", "Artist - Right (Radio Edit)", "Right"),
            ("radio0", "mismatch", "Somebody Else - Wrong Song", "Heard"),
            ("radio0", "confirmed", "Artist - Jóga", "Jóga"),
            ("radio0", "fingerprint_only", "Radio Demo FM", "Ad"),
            ("radio0", "metadata_only", "Unknown Band - Wish", None),
            ("radio1", "fingerprint_only", None, "Q"),
        ]
        assert [(w.metadata_title, w.airings) for w in wish_list(rows)] == [
            ("Unknown Band - Wish", 1)
        ]
        only = await metadata_check(
            orch.db, settings, start=T0, end=T0 + timedelta(hours=1), stream="radio1"
        )
        assert [r.kind for r in only] == ["fingerprint_only"]


def _cli(db_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env |= {"AIRTRACK_DATABASE_URL": db_url, "AIRTRACK_HOME": str(home)}
    env["AIRTRACK_LOG_LEVEL"] = "WARNING"
    return subprocess.run(
        [sys.executable, "-m", "airtrack", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_reports_in_csv_json_and_xlsx(db_url: str, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path)
    async with orchestrator(db_url, settings) as orch:
        (sid,) = await orch.add_streams(1, prefix="radio")
        track = await orch.add_track("Right")
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        ep = w.running[sid]
        titles = [(0, "Artist - Right"), (180, "Missing - Song"), (400, "Missing - Song "),
                  (420, "Radio FM"), (600, "Missing - Song"), (800, "")]  # fmt: skip
        await _post(w, "metadata", "titles", [
            {"key": uuid.uuid4().hex, "stream_id": sid, "epoch": ep, "at": _at(s), "title": t}
            for s, t in titles
        ])  # fmt: skip
        await _post(w, "plays", "plays", [
            {"key": uuid.uuid4().hex, "stream_id": sid, "epoch": ep, "track_id": track,
             "started_at": _at(1), "ended_at": _at(170), "confidence": 0.9}
        ])  # fmt: skip
        frm = (T0 - timedelta(minutes=1)).isoformat()
        to = (T0 + timedelta(hours=1)).isoformat()
        api = await orch.admin(
            "GET", "/reports/metadata-wishlist", params={"from": frm, "to": to, "format": "json"}
        )
        assert api.status_code == 200, api.text
        wished = api.json()
    # the same song however spelled, under its commonest spelling
    assert [(r["metadata_title"], r["airings"]) for r in wished] == [("Missing - Song", 3)]
    home = tmp_path / "home"
    span = ["--from", frm, "--to", to, "--tz", "UTC"]
    csv_out = await asyncio.to_thread(_cli, db_url, home, "report", "metadata-check", *span)
    assert csv_out.returncode == 0, csv_out.stderr
    rows = list(csv.reader(io.StringIO(csv_out.stdout)))
    assert rows[0][:3] == ["station", "class", "start_local"]
    assert [r[1] for r in rows[1:]] == ["confirmed"] + ["metadata_only"] * 3
    xlsx = tmp_path / "check.xlsx"
    out = await asyncio.to_thread(
        _cli, db_url, home, "report", "metadata-check", *span, "--format", "xlsx", "-o", str(xlsx)
    )
    assert out.returncode == 0, out.stderr
    sheet = openpyxl.load_workbook(xlsx).worksheets[0]
    assert [c.value for c in sheet[2]][:2] == ["radio0", "confirmed"]


class _Collected:
    def __init__(self) -> None:
        self.titles: list[TitleIn] = []

    def put_title(self, title: TitleIn) -> None:
        self.titles.append(title)


async def test_a_49_s_airing_with_its_title_in_every_block_is_in_the_metadata_check(
    db_url: str, tmp_path: Path
) -> None:
    """A SHOUTcast v1 station names a song missing from the catalog in every metadata
    block, once a second for 49 s, then its station id: the worker's title reporting keeps
    the one change, and the report shows the 49-s metadata-only airing (stored once a
    second, the song's spans were 1 s each: below metadata_min_span_s, never an airing)."""
    settings = fast_settings(tmp_path)
    async with orchestrator(db_url, settings) as orch:
        (sid,) = await orch.add_streams(1, prefix="v1fm")
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        sink = _Collected()
        reporter = TitleReporter(sid, w.running[sid], sink, TitleChanges(6))
        for s in range(49):
            reporter.heard(
                float(s), TitleEvent(s, "Nobody Band - Not In The Catalog", None, "utf-8")
            )
        reporter.heard(49.0, TitleEvent(49, "V1 FM, the hits", None, "utf-8"))
        reporter.heard(50.0, TitleEvent(50, "V1 FM, the hits", None, "utf-8"))
        reporter.flush(T0.timestamp())
        await _post(w, "metadata", "titles", [t.model_dump(mode="json") for t in sink.titles])

        params = {"from": _at(-60), "to": _at(600), "format": "json"}
        r = await orch.admin("GET", "/reports/metadata-check", params=params)
        assert r.status_code == 200, r.text
        (airing,) = [a for a in r.json() if a["class"] == "metadata_only"]
        assert airing["metadata_title"] == "Nobody Band - Not In The Catalog"
        assert airing["start_utc"].startswith(_at(0)[:19])
        assert airing["end_utc"].startswith(_at(49)[:19])
        r = await orch.admin("GET", "/reports/metadata-wishlist", params=params)
        assert [x["metadata_title"] for x in r.json()] == ["Nobody Band - Not In The Catalog"]
