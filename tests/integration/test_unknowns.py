"""Recurring unknowns found in a synthetic archive written straight into PostgreSQL.

Two stations air a jingle and a song that are not in the catalog, a catalog song the
workers logged (plays cover it), a catalog song they missed, speech and silence. The
leader's discovery pass (the real job on the real database) must find exactly the
jingle and the song, with their airings; a later airing joins within one pass; the CLI
lists, shows, labels (back-fill logs the airings) and dismisses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from airtrack.db import Database
from airtrack.demo.music import render_jingle, render_song
from airtrack.demo.speech import render_talk
from airtrack.fingerprint import params as P
from airtrack.orchestrator.discovery import DiscoveryJob
from airtrack.orchestrator.unknowns import list_unknowns, show_unknown
from tests.integration.orch_support import fast_settings
from tests.integration.test_catalog_delta_live import insert_song
from tests.support import archive
from tests.support.cli import run_cli
from tests.unit._synth_music import noise, song

SR = P.SAMPLE_RATE


def _talk(seed: int, s: float) -> np.ndarray:
    return render_talk(seed, s, SR)


def _quiet(s: float) -> np.ndarray:
    return np.zeros(int(s * SR), np.float32)


class _Program:
    """Parts aired one after the other from ``origin``; remembers where each began."""

    def __init__(self, origin: datetime) -> None:
        self.origin, self.parts, self.at = origin, [], 0.0
        self.starts: dict[str, list[datetime]] = {}

    def add(self, audio: np.ndarray, name: str = "") -> _Program:
        if name:
            self.starts.setdefault(name, []).append(self.origin + timedelta(seconds=self.at))
        self.parts.append(audio)
        self.at += len(audio) / SR
        return self

    def audio(self) -> np.ndarray:
        return np.concatenate(self.parts).astype(np.float32)


def _streams(db_url: str) -> tuple[int, int]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "INSERT INTO streams (name, url) VALUES ('alpha', 'http://127.0.0.1:9/a'),"
            " ('beta', 'http://127.0.0.1:9/b') RETURNING id"
        ).fetchall()
    return int(rows[0][0]), int(rows[1][0])


def _play(conn: psycopg.Connection, sid: int, track: int, start: datetime, s: float) -> None:
    conn.execute(
        "INSERT INTO plays (idempotency_key, stream_id, track_id, started_at, ended_at,"
        " confidence, epoch) VALUES (%s, %s, %s, %s, %s, 0.9, 1)",
        (f"p{sid}-{start.timestamp()}", sid, track, start, start + timedelta(seconds=s)),
    )


def _near(times: list[str], truth: list[datetime], tol: float) -> bool:
    got = sorted(datetime.fromisoformat(t) for t in times)
    return len(got) == len(truth) and all(
        abs((g - t).total_seconds()) <= tol for g, t in zip(got, sorted(truth), strict=True)
    )


async def test_discovery_finds_recurring_unknowns_and_labelling_backfills(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    settings = fast_settings(tmp_path / "home")
    a, b = _streams(db_url)
    jingle, tune = render_jingle(5, 7, SR), render_song(7, 40, SR)
    logged, missed = song(22, 30), song(21, 30)

    async def add(seed: int, audio: np.ndarray) -> int:
        async def tx(t: Any) -> int:
            return await insert_song(t, seed, audio)

        return int(await db.run("test_add_song", tx))

    logged_id = await add(22, logged)
    await add(21, missed)

    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    first = _Program(t0).add(_talk(1, 10)).add(jingle, "jingle").add(_talk(2, 15))
    first.add(tune, "tune").add(_quiet(5)).add(missed).add(_talk(3, 8))
    first.add(logged, "logged").add(_talk(4, 5))
    other = _Program(t0 + timedelta(hours=1)).add(_talk(11, 6)).add(0.8 * tune, "tune")
    other.add(_talk(12, 12)).add(0.9 * jingle, "jingle").add(missed).add(_quiet(4))
    other.add(logged, "logged").add(_talk(13, 10))
    later = _Program(t0 + timedelta(hours=2)).add(_talk(5, 8)).add(jingle, "jingle")
    later.add(_talk(6, 8))

    with psycopg.connect(db_url) as conn:
        archive.write(conn, archive.segments(a, t0, first.audio()))
        archive.write(conn, archive.segments(b, other.origin, noise(other.audio(), 30, 1)))
        for sid, prog in ((a, first), (b, other)):
            _play(conn, sid, logged_id, prog.starts["logged"][0], 30)

    job = DiscoveryJob(db, settings)
    report = await job.step()
    assert report.segments > 0 and report.created == 2, report
    found = await list_unknowns(db)
    assert [u["airings"] for u in found] == [2, 2], found
    by_len = sorted(found, key=lambda u: u["duration_s"])
    j, t = by_len
    assert 5 <= j["duration_s"] <= 10 and 30 <= t["duration_s"] <= 45, found
    assert j["stations"] == t["stations"] == ["alpha", "beta"]
    tune_shown = await show_unknown(db, t["id"])
    starts = [x["start"] for x in tune_shown["airings"]]
    assert _near(starts, first.starts["tune"] + other.starts["tune"], 3.0), tune_shown
    # aired twice: each asks the owner of its newest airing (on beta) for a proof clip
    with psycopg.connect(db_url) as conn:
        asked = conn.execute(
            "SELECT unknown_id, stream_id, start_at FROM clip_requests "
            "WHERE state = 'pending' ORDER BY unknown_id"
        ).fetchall()
    assert [(u, s) for u, s, _ in asked] == sorted([(j["id"], b), (t["id"], b)]), asked
    by_unknown = {u: at for u, _, at in asked}
    assert _near([by_unknown[j["id"]].isoformat()], other.starts["jingle"], 3.0), asked
    assert _near([by_unknown[t["id"]].isoformat()], other.starts["tune"], 3.0), asked

    # a new airing of the jingle joins it on the next pass
    with psycopg.connect(db_url) as conn:
        archive.write(conn, archive.segments(a, later.origin, later.audio()))
    report = await job.step()
    assert report.created == 0 and report.joined >= 1, report
    shown = await show_unknown(db, j["id"])
    truth = first.starts["jingle"] + other.starts["jingle"] + later.starts["jingle"]
    assert _near([x["start"] for x in shown["airings"]], truth, 3.0), shown
    assert {x["stream"] for x in shown["airings"]} == {"alpha", "beta"}
    with psycopg.connect(db_url) as conn:  # one request at a time per unknown
        pending = conn.execute(
            "SELECT count(*) FROM clip_requests WHERE unknown_id = %s AND state = 'pending'",
            (j["id"],),
        ).fetchone()
    assert pending == (1,)

    # a new leader reloads the window: nothing is made twice
    again = DiscoveryJob(db, settings)
    assert (await again.step()).created == 0
    assert len(await list_unknowns(db)) == 2

    env = {"AIRTRACK_DATABASE_URL": db_url}
    home = tmp_path / "cli"
    listed = run_cli("unknown", "list", "--json", home=home, env=env)
    assert listed.returncode == 0, listed.stderr
    assert {u["id"]: u["airings"] for u in json.loads(listed.stdout)} == {j["id"]: 3, t["id"]: 2}
    shown_cli = run_cli("unknown", "show", str(j["id"]), "--json", home=home, env=env)
    assert shown_cli.returncode == 0, shown_cli.stderr
    assert len(json.loads(shown_cli.stdout)["airings"]) == 3

    labelled = run_cli(
        "unknown", "label", str(j["id"]), "--title", "Station ID", "--artist", "Alpha FM",
        "--json", home=home, env=env,
    )  # fmt: skip
    assert labelled.returncode == 0, labelled.stderr
    track = json.loads(labelled.stdout)["track_id"]
    with psycopg.connect(db_url) as conn:
        plays = conn.execute(
            "SELECT s.name, p.started_at, p.source FROM plays p JOIN streams s"
            " ON s.id = p.stream_id WHERE p.track_id = %s ORDER BY p.started_at",
            (track,),
        ).fetchall()
    assert [p[2] for p in plays] == ["backfill"] * 3, plays
    assert _near([p[1].isoformat() for p in plays], truth, 3.0), plays
    dismissed = run_cli("unknown", "dismiss", str(t["id"]), home=home, env=env)
    assert dismissed.returncode == 0, dismissed.stderr
    assert await list_unknowns(db) == []
    missing = run_cli("unknown", "show", "999999", home=home, env=env)
    assert missing.returncode != 0 and "no unknown #999999" in missing.stderr
