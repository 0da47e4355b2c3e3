"""Diagnostics on a real database: a stream that runs but yields nothing is a finding, and
every fix text is a command a person can paste as it is."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from airtrack.db import Database
from airtrack.ops.diagnostics import collect
from airtrack.settings import load_settings

NAME = "Radio O'Brien FM"  # a space and a quote: pasted unquoted, the shell would break it


async def _sql(db: Database, statement: str) -> None:
    async def fn(tx: Any) -> None:
        await tx.execute_raw(statement)

    await db.run("test_sql", fn)


async def _running_stream(db: Database, quiet: str) -> None:
    """One stream owned by a live worker, running, its last sign of life ``quiet`` ago."""
    await _sql(
        db,
        f"""
        INSERT INTO workers (id, host, capacity, last_heartbeat) VALUES ('wq', 'h', 5, now());
        INSERT INTO streams (name, url, capture_status, created_at)
            VALUES ($${NAME}$$, 'http://127.0.0.1:9/noise', 'running', now() - interval '{quiet}');
        INSERT INTO assignments (stream_id, worker_id, epoch, state, assigned_at, confirmed_at)
            SELECT id, 'wq', 1, 'assigned', now() - interval '{quiet}',
                   now() - interval '{quiet}'
            FROM streams;
        """,
    )


def _quiet(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if "logged nothing" in f["problem"]]


async def test_a_running_stream_with_no_plays_and_no_titles_is_a_finding(
    db_url: str, tmp_path: Path
) -> None:
    settings = load_settings(home=tmp_path / "h", diagnose_quiet_stream_s=600)
    async with Database(db_url, settings) as db:
        await _running_stream(db, "15 minutes")
        (found,) = _quiet(await collect(db, settings))
        assert found["severity"] == "warning"
        assert NAME in found["problem"] and "15 min" in found["problem"]
        assert "no play and no station title" in found["evidence"]
        # the fix is pasteable: the name survives the shell as one word
        cmd = found["recommendation"].split("`")[1]
        assert shlex.split(cmd) == ["airtrack", "streams", "edit", NAME, "--url", "URL"]

        # a station title a minute ago: the station is alive, no finding
        await _sql(
            db,
            "INSERT INTO stream_titles (idempotency_key, stream_id, at, title, epoch) "
            "SELECT 'k1', id, now() - interval '1 minute', 'Artist - Song', 1 FROM streams",
        )
        assert _quiet(await collect(db, settings)) == []

        # a longer threshold than the quiet time: no finding either
        await _sql(db, "DELETE FROM stream_titles")
        assert _quiet(await collect(db, settings)) != []
        patient = load_settings(home=tmp_path / "h", diagnose_quiet_stream_s=3600)
        assert _quiet(await collect(db, patient)) == []


async def test_a_failed_stream_fix_is_a_pasteable_remove(db_url: str, tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "h")
    async with Database(db_url, settings) as db:
        await _running_stream(db, "1 minute")
        await _sql(
            db,
            "UPDATE streams SET capture_status = 'failed', last_error = 'HTTP 404', "
            "error_since = now() - interval '1 hour'",
        )
        (found,) = [
            f for f in (await collect(db, settings))["findings"] if "failed" in f["problem"]
        ]
        text = found["recommendation"]
        assert "disable" not in text, "the command removes the stream: say so"
        cmd = text.split("`")[1]
        assert shlex.split(cmd) == ["airtrack", "streams", "remove", NAME]


async def test_a_worker_that_cannot_write_its_outbox_is_critical(
    db_url: str, tmp_path: Path
) -> None:
    settings = load_settings(home=tmp_path / "h")
    async with Database(db_url, settings) as db:
        await _sql(
            db,
            "INSERT INTO workers (id, host, capacity, last_heartbeat, meta) VALUES "
            """('wd', 'h', 5, now(), '{"metrics": {"outbox_unsaved": 4, "outbox_pending": 1}}')""",
        )
        found = [f for f in (await collect(db, settings))["findings"] if "outbox" in f["problem"]]
        assert [(f["severity"], f["problem"]) for f in found] == [
            (
                "critical",
                "worker wd cannot write its outbox: 4 plays, titles or acknowledgements "
                "are held in memory only",
            )
        ]
        assert "AIRTRACK_HOME" in found[0]["recommendation"]
        await _sql(db, """UPDATE workers SET meta = '{"metrics": {"outbox_unsaved": 0}}'""")
        found = [f for f in (await collect(db, settings))["findings"] if "outbox" in f["problem"]]
        assert found == []
