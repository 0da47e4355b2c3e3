"""Diagnostics on a real database: a stream that runs but yields nothing is a finding, and
every fix text is a command a person can paste as it is."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import psycopg

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


def _held(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if "held from webhooks" in f["problem"]]


async def test_events_held_behind_an_open_transaction_name_its_session(
    db_url: str, tmp_path: Path
) -> None:
    """Delivery goes in commit order: a session left in a writing transaction holds every
    event committed after it began.  The finding names that session, so it can be ended."""
    settings = load_settings(home=tmp_path / "h", diagnose_events_held_s=60)
    async with Database(db_url, settings) as db:
        holder = await psycopg.AsyncConnection.connect(db_url, application_name="nightly-batch")
        try:
            async with holder.cursor() as cur:
                await cur.execute("SELECT pg_backend_pid(), pg_current_xact_id()")  # a writer
                row = await cur.fetchone()
                assert row is not None
                pid = row[0]
            # two events committed after it began, the older 5 minutes ago
            await _sql(
                db,
                "INSERT INTO outbound_events (type, data, at) VALUES "
                "('stream.added', '{}', now() - interval '5 minutes'), "
                "('stream.added', '{}', now() - interval '10 seconds')",
            )
            report = await collect(db, settings)
            (found,) = _held(report)
            assert found["severity"] == "warning"
            assert found["problem"] == (
                "2 events held from webhooks and the event stream for 5 min by an open transaction"
            )
            assert f"pid {pid} (nightly-batch" in found["evidence"]
            assert "idle in transaction" in found["evidence"]
            assert f"pg_terminate_backend({pid})" in found["recommendation"]
            assert report["events"]["held"] == 2
            # a longer threshold than the wait: no finding, the count still shown
            patient = load_settings(home=tmp_path / "h", diagnose_events_held_s=600)
            assert _held(await collect(db, patient)) == []
        finally:
            await holder.rollback()
            await holder.close()
        report = await collect(db, settings)
        assert _held(report) == [] and report["events"]["held"] == 0
