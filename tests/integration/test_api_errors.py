"""The API's error table against the real app over a real PostgreSQL: one request per
status family, each raised by the domain and answered by the one handler in app.py."""

from __future__ import annotations

from pathlib import Path

import psycopg

from .orch_support import fast_settings, orchestrator


async def test_each_status_family_comes_from_the_one_table(db_url: str, tmp_path: Path) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        stream = {"name": "Radio One", "url": "http://127.0.0.1:9/one"}
        assert (await orch.admin("POST", "/streams", json=stream)).status_code == 201

        # 400 ReportRequestError: a cursor this API never handed out
        r = await orch.admin("GET", "/plays", params={"cursor": "not-a-cursor"})
        assert r.status_code == 400, r.text
        r = await orch.admin(
            "GET", "/reports/plays", params={"from": "2026-03-02", "to": "2026-03-01"}
        )
        assert r.status_code == 400, r.text

        # 404 UnknownStream, UnknownWebhook
        r = await orch.admin("PATCH", "/streams/Nobody", json={"genre": "news"})
        assert r.status_code == 404 and "Nobody" in r.json()["detail"], r.text
        r = await orch.admin("POST", "/webhooks/424242/test")
        assert r.status_code == 404 and "424242" in r.json()["detail"], r.text

        # 409 StreamExists: the name, then the URL, taken
        r = await orch.admin("POST", "/streams", json=stream)
        assert r.status_code == 409, r.text
        r = await orch.admin("POST", "/streams", json={**stream, "name": "Radio Two"})
        assert r.status_code == 409 and "Radio One" in r.json()["detail"], r.text

        # 422 WebhookError, StreamImportError (with every bad line listed)
        r = await orch.admin("POST", "/webhooks", json={"url": "ftp://127.0.0.1/x"})
        assert r.status_code == 422 and "http" in r.json()["detail"], r.text
        r = await orch.admin(
            "POST",
            "/streams/import",
            params={"format": "csv"},
            content=b"name,url\nGood,http://127.0.0.1:9/good\n,http://127.0.0.1:9/nameless\n",
        )
        assert r.status_code == 422 and r.json()["problems"], r.text


async def test_a_locked_database_is_a_503_with_retry_after(db_url: str, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path, db_lock_timeout_s=0.2, db_retry_attempts=1)
    async with orchestrator(db_url, settings) as orch:
        with psycopg.connect(db_url) as conn:
            conn.execute("LOCK TABLE streams IN ACCESS EXCLUSIVE MODE")  # held: no commit
            r = await orch.admin("GET", "/streams")
            conn.rollback()
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "5"
        assert r.json()["detail"].startswith("database busy or unavailable")
        assert (await orch.admin("GET", "/streams")).status_code == 200
