"""The dashboard in a real headless Chromium against a real orchestrator process."""

from __future__ import annotations

import base64
import os
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest

from airtrack.worker.clip_upload import encode_opus
from tests.integration.orch_support import ADMIN, WORKER
from tests.integration.test_orchestrator_replicas import Replica

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt install chromium)"
    ),
]


def _beat(rep: Replica, running: dict[str, dict[int, int]], stop: threading.Event) -> None:
    """Keep the workers alive while the browser looks (so the screenshot shows real load)."""
    with httpx.Client(base_url=rep.url, timeout=5) as http:
        while not stop.wait(0.4):
            for wid in running:
                r = http.post(
                    f"/api/v1/workers/{wid}/heartbeat",
                    json={
                        "streams": [
                            {"stream_id": s, "epoch": e, "status": "running"}
                            for s, e in running[wid].items()
                        ],
                        "metrics": {"outbox_pending": 3},
                    },
                    headers={"Authorization": f"Bearer {WORKER}"},
                )
                if r.status_code == 200:
                    running[wid] = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}


def _play(
    rep: Replica,
    db_url: str,
    running: dict[str, dict[int, int]],
    title: str,
    worker: str = "alpha",
) -> dict[str, Any]:
    """``worker`` reports a play of a new track called ``title`` on its first stream; the
    play sent.  A play's start ends the open play before it on that stream."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO tracks (title, artist, source, duration_s, content_sha256) "
            "VALUES (%s, 'The Testers', 'x.mp3', 180, %s) RETURNING id",
            (title, uuid.uuid4().hex),
        ).fetchone()
    assert row is not None
    sid, epoch = next(iter(running[worker].items()))
    play = {
        "key": uuid.uuid4().hex,
        "stream_id": sid,
        "epoch": epoch,
        "track_id": row[0],
        "started_at": datetime.now(UTC).isoformat(),
        "confidence": 0.9,
    }
    _send(rep, worker, play)
    return play


def _end(rep: Replica, play: dict[str, Any], confidence: float, worker: str) -> None:
    """``worker`` reports the play's end (same key), at a new confidence."""
    _send(
        rep, worker, {**play, "ended_at": datetime.now(UTC).isoformat(), "confidence": confidence}
    )


def _send(rep: Replica, worker: str, play: dict[str, Any]) -> None:
    r = httpx.post(
        f"{rep.url}/api/v1/plays",
        json={"worker_id": worker, "plays": [play]},
        headers={"Authorization": f"Bearer {WORKER}"},
        timeout=10,
    )
    assert r.json()["results"][0]["status"] == "stored"


def _clip(rep: Replica, play: dict[str, Any]) -> None:
    """The worker uploads the play's proof clip (a second of real Opus)."""
    audio = encode_opus(np.zeros(8000, np.int16), 8000, 16000)
    clip = {
        "key": uuid.uuid4().hex,
        "stream_id": play["stream_id"],
        "epoch": play["epoch"],
        "started_at": play["started_at"],
        "duration_s": 1.0,
        "play_key": play["key"],
        "data": base64.b64encode(audio).decode(),
    }
    r = httpx.post(
        f"{rep.url}/api/v1/clips",
        json={"worker_id": "alpha", "clips": [clip]},
        headers={"Authorization": f"Bearer {WORKER}"},
        timeout=10,
    )
    assert r.json()["results"][0]["status"] == "stored", r.text


def _populate(rep: Replica, db_url: str) -> dict[str, dict[int, int]]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    worker = {"Authorization": f"Bearer {WORKER}"}
    with httpx.Client(base_url=rep.url, timeout=10) as http:
        for i in range(5):
            r = http.post(
                "/api/v1/streams",
                json={"name": f"radio-{i}", "url": f"http://127.0.0.1:9/{i}"},
                headers=admin,
            )
            assert r.status_code == 201
        running: dict[str, dict[int, int]] = {}
        for wid, cap in (("alpha", 4), ("beta", 4)):
            r = http.post(
                "/api/v1/workers/register",
                json={"worker_id": wid, "capacity": cap, "host": wid + ".local"},
                headers=worker,
            )
            assert r.status_code == 200
            running[wid] = {}
        deadline = time.monotonic() + 15
        while sum(len(v) for v in running.values()) < 5 and time.monotonic() < deadline:
            for wid in running:
                r = http.post(
                    f"/api/v1/workers/{wid}/heartbeat",
                    json={
                        "streams": [
                            {"stream_id": s, "epoch": e, "status": "running"}
                            for s, e in running[wid].items()
                        ],
                        "metrics": {"outbox_pending": 3},
                    },
                    headers=worker,
                )
                running[wid] = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}
            time.sleep(0.3)
        assert sum(len(v) for v in running.values()) == 5
        with psycopg.connect(db_url, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO tracks (title, artist, source, duration_s, content_sha256) "
                "VALUES ('Blue Monday Test', 'The Testers', 'x.mp3', 180, %s) RETURNING id",
                (uuid.uuid4().hex,),
            ).fetchone()
        assert row is not None
        sid, epoch = next(iter(running["alpha"].items()))
        r = http.post(
            "/api/v1/plays",
            json={
                "worker_id": "alpha",
                "plays": [
                    {
                        "key": uuid.uuid4().hex,
                        "stream_id": sid,
                        "epoch": epoch,
                        "track_id": row[0],
                        "started_at": datetime.now(UTC).isoformat(),
                        "confidence": 0.93,
                    }
                ],
            },
            headers=worker,
        )
        assert r.json()["results"][0]["status"] == "stored"
    with psycopg.connect(db_url, autocommit=True) as conn:  # what discovery would have found
        conn.execute(
            "WITH u AS (INSERT INTO unknowns DEFAULT VALUES RETURNING id)"
            " INSERT INTO unknown_airings (unknown_id, stream_id, started_at, ended_at)"
            " SELECT u.id, s.id, now() - (s.id || ' min')::interval,"
            "        now() - (s.id || ' min')::interval + interval '7 s'"
            " FROM u, streams s WHERE s.name IN ('radio-0', 'radio-1')"
        )
    return running


def test_dashboard_renders_workers_plays_and_chart(replica: Replica, db_url: str) -> None:
    from playwright.sync_api import sync_playwright

    running = _populate(replica, db_url)
    ARTIFACTS.mkdir(exist_ok=True)
    stop = threading.Event()
    beater = threading.Thread(target=_beat, args=(replica, running, stop), daemon=True)
    beater.start()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            plays_polls: list[str] = []
            page.on(
                "request", lambda r: plays_polls.append(r.url) if "/api/v1/plays" in r.url else None
            )
            # a play stored after the page listed plays but before its event stream opened
            # must not fall between the two: store one while the first stream request waits
            # (on beta's stream, so that no later play on alpha's ends it, which would send
            # it in an event)
            between: list[dict[str, Any]] = []

            def stream_request(route: Any) -> None:
                if not between:
                    title = "Between Load And Stream"
                    between.append(_play(replica, db_url, running, title, "beta"))
                route.continue_()

            page.route("**/api/v1/events*", stream_request)
            # first visit: the page asks for the token
            page.goto(f"{replica.url}/dashboard")
            page.wait_for_selector("#login:not([hidden])", timeout=10_000)
            page.fill("#token", ADMIN)
            page.click("#login button")
            page.wait_for_selector("body[data-loaded='true']", timeout=15_000)
            page.wait_for_selector("#workers tbody tr", timeout=10_000)
            workers = page.locator("#workers tbody tr").all_inner_texts()
            assert any("alpha" in w for w in workers) and any("beta" in w for w in workers)
            plays = page.locator("#plays tbody tr").all_inner_texts()
            assert any("Blue Monday Test" in t for t in plays), plays
            # live plays come from the event stream (the page no longer polls /plays)
            live = _play(replica, db_url, running, "Live Feed Song")
            page.wait_for_selector("#plays tbody tr:has-text('Live Feed Song')", timeout=15_000)
            assert len(plays_polls) == 1, f"plays were polled: {plays_polls}"
            # the live play ended the listed one before it on alpha's stream: its row is
            # updated, not repeated (the event names it by play_id)
            blue_row = "#plays tbody tr:has-text('Blue Monday Test')"
            assert page.locator(blue_row).count() == 1, page.locator("#plays").inner_text()
            between_row = "#plays tbody tr:has-text('Between Load And Stream')"
            page.wait_for_selector(between_row, timeout=15_000)
            _end(replica, between[0], 0.97, "beta")
            page.wait_for_selector(f"{between_row}:has-text('0.97')", timeout=15_000)
            assert page.locator(between_row).count() == 1
            # a play's proof clip plays in the page; a play without one says so
            _clip(replica, live)
            live_row = "#plays tbody tr:has-text('Live Feed Song')"
            page.click(f"{live_row} button")
            page.wait_for_selector(f"{live_row} audio[src^='blob:']", timeout=10_000)
            old_row = "#plays tbody tr:has-text('Blue Monday Test')"
            page.click(f"{old_row} button")
            page.wait_for_selector(f"{old_row} td:has-text('no clip')", timeout=10_000)
            bars = page.locator("#load-chart rect.bar")
            assert bars.count() == 2
            drawn = sorted(int(bars.nth(i).get_attribute("data-streams") or -1) for i in range(2))
            assert drawn == [2, 3]
            assert page.locator("#streams tbody tr").count() == 5
            # a recurring unknown is listed, and "dismiss" hides it
            unknown = page.locator("#unknowns tbody tr").first.inner_text()
            assert "radio-0, radio-1" in unknown and "7.0 s" in unknown, unknown
            page.click("#unknowns button[data-unknown]")
            page.wait_for_selector("#unknowns tbody tr", state="detached", timeout=10_000)
            # each station's state, its uptime and the URL being read
            page.wait_for_selector("#streams td.health-up", timeout=20_000)
            row = page.locator("#streams tbody tr:has(td.health-up)").first.inner_text()
            assert "%" in row and "http://" in row, row
            assert page.locator("#recovery").get_attribute("data-on") == "false"
            # the token stays in the tab: a reload needs no login; ?token= works too
            page.reload()
            page.wait_for_selector("body[data-loaded='true']", timeout=15_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            other = browser.new_page()
            other.goto(f"{replica.url}/dashboard?token={ADMIN}")
            other.wait_for_selector("body[data-loaded='true']", timeout=15_000)
            assert ADMIN not in other.url, "the token is removed from the address bar"
            assert not errors, errors
        finally:
            browser.close()
            stop.set()
            beater.join(timeout=10)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


def _browser(p: object) -> object:
    return p.chromium.launch(  # type: ignore[attr-defined]
        executable_path=CHROMIUM,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
    )


def test_printed_demo_link_opens_the_dashboard_logged_in(replica: Replica, db_url: str) -> None:
    """The link `airtrack demo` prints, followed as a browser would."""
    from playwright.sync_api import sync_playwright

    from airtrack.web.login import dashboard_link

    _populate(replica, db_url)
    link = dashboard_link(replica.url, ADMIN)
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            for url in (link, f"{replica.url}/?token={ADMIN}"):
                page = browser.new_page()  # type: ignore[attr-defined]
                page.goto(url)
                page.wait_for_selector("body[data-loaded='true']", timeout=15_000)
                assert page.locator("#login").is_hidden(), "no token prompt"
                page.wait_for_selector("#plays tbody tr", timeout=10_000)
                row = page.locator("#plays tbody tr").first.inner_text()
                # a play's time carries its date and zone, 24-hour
                assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S+", row), row
                assert not re.search(r"\b[AP]M\b", row), row
                assert ADMIN not in page.url, "the token left the address bar"
                assert ADMIN not in page.evaluate("location.href + document.referrer")
                page.close()
        finally:
            browser.close()  # type: ignore[attr-defined]


def test_api_docs_work_without_internet(replica: Replica) -> None:
    """/docs references no external host and renders with the network cut."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as p:
        browser = _browser(p)
        try:
            page = browser.new_page()  # type: ignore[attr-defined]

            def only_local(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if url.startswith(replica.url):
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    outside.append(url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", only_local)
            page.goto(f"{replica.url}/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            assert "airtrack orchestrator" in page.inner_text(".swagger-ui .info .title")
            assert page.locator(".opblock").count() > 5
        finally:
            browser.close()  # type: ignore[attr-defined]
    assert not outside, outside
