"""Monthly returns: SoundExchange's Report of Use from plays and polled listener figures
(a real control loop polling a local Icecast-style endpoint), and the shipped templates."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airtrack.cli.report_returns import run_template
from airtrack.db import Database
from airtrack.errors import ReportTemplateError
from airtrack.settings import load_settings

from .listeners_support import stats_server
from .orch_support import orchestrator
from .reports_support import seed
from .test_listeners import listener_settings, wait_for
from .test_report_cli import _env, cli

MS = timedelta(milliseconds=1)


async def _track(db: Database, title: str, artist: str, **credits: str | None) -> int:
    async def fn(tx: Any) -> int:
        rows = await tx.execute_raw(
            "INSERT INTO tracks (title, artist, source, duration_s, content_sha256, album, "
            "label, isrc) VALUES (%s, %s, 'x.mp3', 200, %s, %s, %s, %s) RETURNING id",
            (title, artist, uuid.uuid4().hex, credits.get("album"), credits.get("label"),
             credits.get("isrc")),
        )  # fmt: skip
        return int(rows[0]["id"])

    return int(await db.run("test_track", fn))


async def _play(db: Database, stream: int, track: int, start: datetime) -> None:
    async def fn(tx: Any) -> None:
        await tx.execute_raw(
            "INSERT INTO plays (idempotency_key, stream_id, track_id, started_at, ended_at, "
            "confidence, worker_id, epoch) VALUES (%s, %s, %s, %s, %s, 0.9, 'w1', 1)",
            (uuid.uuid4().hex, stream, track, start, start + MS),
        )

    await db.run("test_play", fn)


async def _samples(db: Database, sid: int) -> list[Any]:
    now = datetime.now(UTC)
    return await db.fetch(
        "listeners_samples",
        {"id": sid, "t0": now - timedelta(hours=1), "t1": now + timedelta(hours=1)},
    )


def _day(at: datetime) -> str:
    return at.strftime("%Y%m%d")


async def test_soundexchange_file_from_plays_and_polled_listeners(
    db_url: str, tmp_path: Path
) -> None:
    with stats_server() as server:
        async with orchestrator(db_url, listener_settings(tmp_path)) as orch:
            ids = {}
            for name, url, stats in [
                ("Radio Été", "http://127.0.0.1:9/live", server.url("/status-json.xsl")),
                ("KXYZ Two", "http://127.0.0.1:9/two", None),
            ]:
                r = await orch.admin(
                    "POST", "/streams", json={"name": name, "url": url, "stats_url": stats}
                )
                assert r.status_code == 201, r.text
                ids[name] = r.json()["id"]
            ete, two = ids["Radio Été"], ids["KXYZ Two"]

            # The leader polls while the station has 5 listeners, then 7.
            stop = asyncio.Event()
            control = asyncio.create_task(orch.control.run(stop))
            try:
                server.count = 5
                await wait_for("a sample of 5", lambda: _last(orch) == 5)
                server.count = 7
                await wait_for("a sample of 7", lambda: _last(orch) == 7)
            finally:
                stop.set()
                await asyncio.wait_for(control, 30)
            samples = await _samples(orch.db, ete)
            a7 = min(s["at"] for s in samples if s["listeners"] == 7)
            a5 = max(s["at"] for s in samples if s["listeners"] == 5 and s["at"] < a7)

            joga = await _track(orch.db, "Jóga", "Björk", album="Homogenic",
                                label="One Little Indian", isrc="GBAAA9700001")  # fmt: skip
            piped = await _track(orch.db, "Pipe | and ^caret^", "The Band", album="Album B",
                                 label="Label B")  # fmt: skip
            unknown = await _track(orch.db, "Unknown Song", "Nobody", album="Only Album")
            await _play(orch.db, ete, joga, a5 + MS)  # 5 listeners
            await _play(orch.db, ete, joga, a7 + MS)  # 7
            await _play(orch.db, ete, piped, a7 + 3 * MS)  # 7
            await _play(orch.db, ete, unknown, a7 + 5 * MS)  # 7
            await _play(orch.db, ete, piped, a5 - timedelta(hours=1))  # before any sample
            await _play(orch.db, two, joga, a7 + MS)  # a station without a stats URL

            t0, t1 = a5 - timedelta(hours=2), a7 + timedelta(hours=1)
            span = {"from": t0.isoformat(), "to": t1.isoformat()}
            r = await orch.admin("GET", "/reports/soundexchange", params={**span, "category": "A"})
            assert r.status_code == 200, r.text
            expected = (
                "NAME_OF_SERVICE|TRANSMISSION_CATEGORY|FEATURED_ARTIST|SOUND_RECORDING_TITLE|"
                "ISRC|ALBUM_TITLE|MARKETING_LABEL|ACTUAL_TOTAL_PERFORMANCES|PLAY_FREQUENCY\r\n"
                "^KXYZ Two^|^A^|^Bjork^|^Joga^|^GBAAA9700001^|^Homogenic^|^One Little Indian^"
                "||1\r\n"
                "^Radio Ete^|^A^|^Bjork^|^Joga^|^GBAAA9700001^|^Homogenic^|^One Little Indian^"
                "|12|2\r\n"
                "^Radio Ete^|^A^|^Nobody^|^Unknown Song^|^^|^Only Album^|^^|7|1\r\n"
                "^Radio Ete^|^A^|^The Band^|^Pipe and caret^|^^|^Album B^|^Label B^|7|2\r\n"
            )
            assert r.content == expected.encode("ascii")
            name = f"airtrack{_day(t0)}_{_day(t1 - MS)}_A.txt"
            assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
            assert r.headers["x-airtrack-unidentified-count"] == "1"
            assert json.loads(r.headers["x-airtrack-unidentified"]) == [
                "Radio Été: Nobody - Unknown Song (1 play)"
            ]

            # performances = listeners summed over the plays, in the summary too
            r = await orch.admin("GET", "/reports/summary", params={**span, "format": "json"})
            rows = {(x["station"], x["title"]): x for x in r.json()}
            assert rows[("Radio Été", "Jóga")]["performances"] == 5 + 7
            assert rows[("Radio Été", "Pipe | and ^caret^")]["performances"] == 7
            assert rows[("(all stations)", "Jóga")]["performances"] == 5 + 7
            assert rows[("KXYZ Two", "Jóga")]["performances"] is None
            assert rows[("KXYZ Two", "Jóga")]["tuning_hours"] is None
            assert rows[("Radio Été", "Jóga")]["tuning_hours"] == 0.0  # 12 listener-ms

            bad = await orch.admin(
                "GET", "/reports/soundexchange", params={**span, "category": "D"}
            )
            assert bad.status_code == 400 and "one of A" in bad.text

    # The CLI: one station under its service name, the conventional file name, and the
    # recordings SoundExchange cannot identify on stderr.
    env = _env(db_url, tmp_path)
    args = ["--from", t0.isoformat(), "--to", t1.isoformat(), "--stream", "Radio Été"]
    r = cli(env, "report", "soundexchange", *args, "--service-name", "KXYZ-FM",
            "--category", "b", "--output", str(tmp_path))  # fmt: skip
    assert r.returncode == 0, r.stderr
    written = tmp_path / f"KXYZFM{_day(t0)}_{_day(t1 - MS)}_B.txt"
    assert written.read_bytes() == (
        "NAME_OF_SERVICE|TRANSMISSION_CATEGORY|FEATURED_ARTIST|SOUND_RECORDING_TITLE|"
        "ISRC|ALBUM_TITLE|MARKETING_LABEL|ACTUAL_TOTAL_PERFORMANCES\r\n"
        "^KXYZ-FM^|^B^|^Bjork^|^Joga^|^GBAAA9700001^|^Homogenic^|^One Little Indian^|12\r\n"
        "^KXYZ-FM^|^B^|^Nobody^|^Unknown Song^|^^|^Only Album^|^^|7\r\n"
        "^KXYZ-FM^|^B^|^The Band^|^Pipe and caret^|^^|^Album B^|^Label B^|7\r\n"
    ).encode("ascii")
    assert "Nobody - Unknown Song (1 play)" in r.stderr


def _range(args: list[str]) -> dict[str, Any]:
    return {"start": args[1], "end": args[3], "tz": None}


def _last(orch: Any) -> int | None:
    for o in orch.control.listeners.last:
        if o.target.name == "Radio Été":
            return int(o.listeners) if o.listeners is not None else None
    return None


async def _seed(db_url: str, home: Path) -> dict[str, int]:
    async with Database(db_url, load_settings(home=home)) as db:
        return await seed(db)


def test_shipped_templates_produce_their_formats(db_url: str, tmp_path: Path) -> None:
    asyncio.run(_seed(db_url, tmp_path))
    env = _env(db_url, tmp_path)
    day = ["--from", "2026-03-01", "--to", "2026-03-01"]
    r = cli(env, "report", "plays", *day, "--stream", "Paris FM", "--template", "prs-radio")
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace("\r\n", "\n") == (  # text mode: the file's CRLF read as LF
        "Transmission Date,Time of Day,Music Title,Composer/Songwriter,Performer,"
        "Music Duration,Number of Plays,Album Title,ISRC,ISWC\n"
        "01/03/2026,00:00:00,Song One,Ann; Bob,Artist A,3:00,1,Album,FRABC2600001,T-123456789-0\n"
        "01/03/2026,11:00:00,Song Two,,Artist B,3:30,1,,,\n"
    )
    # In-process from here: each CLI subprocess costs seconds on a busy machine.
    settings = load_settings(database_url=db_url, home=tmp_path)
    out = tmp_path / "bmi.txt"
    run_template(settings, "bmi-log", **_range(day), streams=["NY Radio"], output=out)
    assert (
        out.read_bytes()
        == b"Date\tTime\tTitle\tArtist\r\n03/01/2026\t10:00:00\tSong One\tArtist A\r\n"
    )

    # A template of one's own: one row per recording, ASCII, every field quoted.
    mine = tmp_path / "mine.toml"
    mine.write_text(
        'rows = "per-recording"\ndelimiter = ";"\nquoting = "all"\nencoding = "ascii"\n'
        + "".join(
            f'[[columns]]\nfield = "{f}"\n'
            for f in ("station", "title", "plays", "airtime_s", "first_date")
        )
    )
    two = ["--from", "2026-03-01", "--to", "2026-03-02"]
    run_template(settings, str(mine), **_range(two), streams=["Paris FM"], output=out)
    assert list(csv.reader(io.StringIO(out.read_text()), delimiter=";")) == [
        ["station", "title", "plays", "airtime_s", "first_date"],
        ["Paris FM", "Song One", "2", "360.0", "2026-03-01"],
        ["Paris FM", "Song Two", "1", "210.0", "2026-03-01"],
    ]
    assert out.read_text().startswith('"station";"title"')
    with pytest.raises(ReportTemplateError, match="prs-radio"):
        run_template(settings, "no-such-template", **_range(day), streams=[], output=out)

    mine.write_text('[[columns]]\nheader = "Title"\nfield = "titel"\n')
    r = cli(env, "report", "plays", *day, "--template", str(mine), "-o", str(out))
    assert r.returncode == 1
    assert "unknown field 'titel'" in r.stderr and "title, artist" in r.stderr
