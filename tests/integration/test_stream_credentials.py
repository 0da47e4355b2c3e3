"""Credentials in stream URLs (``http://user:secret@host/``) are shown nowhere but kept
where the worker needs them: API answers, diagnostics, the real CLI's tables and JSON,
logs; the worker's assignment still carries the real URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog

from airtrack.logging import configure_logging, get_logger

from .ops_support import ops_orchestrator
from .orch_support import SimWorker, fast_settings, settle
from .test_report_cli import _env, cli

SECRET = "s3cr3t-pw"
MAIN = f"http://user:{SECRET}@127.0.0.1:9/live"
BACKUP = f"http://{SECRET}@127.0.0.1:9/backup"


async def test_api_and_diagnostics_mask_credentials_and_the_worker_gets_them(
    db_url: str, tmp_path: Path
) -> None:
    async with ops_orchestrator(db_url, fast_settings(tmp_path)) as orch:
        r = await orch.admin(
            "POST", "/streams", json={"name": "locked", "url": MAIN, "backup_urls": [BACKUP]}
        )
        assert r.status_code == 201, r.text
        assert SECRET not in r.text and r.json()["url"] == "http://***@127.0.0.1:9/live"
        w = SimWorker(orch, "w1", 5)
        body = await w.register()
        await settle(orch, [w])
        sid = r.json()["id"]
        # the worker is the one that connects: its assignment keeps the credentials
        r = await orch.worker_call(
            "POST", f"/workers/{w.id}/heartbeat", json={"streams": []}, headers=w.auth
        )
        (a,) = [x for x in body["assignments"] + r.json()["assignments"] if x["stream_id"] == sid][
            :1
        ]
        assert a["url"] == MAIN and a["backup_urls"] == [BACKUP]
        w.running = {sid: a["epoch"]}
        r = await orch.worker_call(
            "POST",
            f"/workers/{w.id}/heartbeat",
            headers=w.auth,
            json={
                "streams": [
                    {
                        "stream_id": sid,
                        "epoch": a["epoch"],
                        "status": "retrying",
                        "error": f"HTTP 401 for {MAIN} after 3 s",
                        "url_in_use": BACKUP,
                    }
                ]
            },
        )
        assert r.status_code == 200, r.text
        listed = await orch.admin("GET", "/streams")
        (s,) = listed.json()
        assert SECRET not in listed.text, listed.text
        assert s["backup_urls"] == ["http://***@127.0.0.1:9/backup"]
        assert s["last_error"] == "HTTP 401 for http://***@127.0.0.1:9/live after 3 s"
        assert s["url_in_use"] == "http://***@127.0.0.1:9/backup"
        r = await orch.admin("PATCH", "/streams/locked", json={"url": MAIN + "2"})
        assert r.status_code == 200 and SECRET not in r.text, r.text
        csv_file = f"name,url\nother,http://u:{SECRET}@127.0.0.1:9/other\n"
        r = await orch.admin(
            "POST", "/streams/import", params={"filename": "s.csv"}, content=csv_file
        )
        assert r.status_code == 200 and SECRET not in r.text, r.text
        diag = await orch.admin("GET", "/diagnostics")
        assert diag.status_code == 200 and SECRET not in diag.text, diag.text[:500]
        # stored as given: the worker needs it
        rows = await orch.db.run(
            "test_urls", lambda tx: tx.execute_raw("SELECT url FROM streams ORDER BY id")
        )
        assert [x["url"] for x in rows] == [MAIN + "2", f"http://u:{SECRET}@127.0.0.1:9/other"]


def test_logs_never_carry_a_url_password(capsys: Any) -> None:
    before = structlog.get_config()
    configure_logging("INFO", json=True)
    try:
        get_logger("test").info("stream_start", url=MAIN, note=f"moved from {BACKUP}")
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        structlog.configure(**before)
    assert line["url"] == "http://***@127.0.0.1:9/live"
    assert line["note"] == "moved from http://***@127.0.0.1:9/backup"


def test_cli_tables_and_json_mask_credentials(db_url: str, tmp_path: Path) -> None:
    env = _env(db_url, tmp_path)
    r = cli(env, "streams", "add", MAIN, "--name", "locked", "--backup-url", BACKUP)
    assert r.returncode == 0, r.stderr
    assert SECRET not in r.stdout + r.stderr and "http://***@127.0.0.1:9/live" in r.stdout
    for args in (["streams", "list"], ["streams", "list", "--json"]):
        r = cli(env, *args)
        assert r.returncode == 0, (args, r.stderr)
        assert SECRET not in r.stdout + r.stderr and "***@127.0.0.1" in r.stdout, (args, r.stdout)
    r = cli(env, "status")
    assert r.returncode == 0 and SECRET not in r.stdout + r.stderr, r.stdout
    (row,) = json.loads(cli(env, "streams", "list", "--json").stdout)
    assert row["url"] == "http://***@127.0.0.1:9/live"
    r = cli(env, "diagnose", "--json")
    assert SECRET not in r.stdout + r.stderr, r.stdout[:500]
    r = cli(env, "streams", "edit", "locked", "--url", MAIN + "2")
    assert r.returncode == 0 and SECRET not in r.stdout + r.stderr, r.stdout + r.stderr
