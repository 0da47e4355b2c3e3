"""The dashboard's reports page in a real headless Chromium against a real orchestrator."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest

from airtrack.db import Database
from airtrack.settings import load_settings
from tests.integration.orch_support import ADMIN
from tests.integration.reports_support import PARIS, seed
from tests.integration.test_orchestrator_replicas import Replica

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is not installed (apt install chromium)"
    ),
]


@pytest.fixture
def replica(db_url: str, tmp_path: Path) -> Iterator[Replica]:
    async def fill() -> None:
        async with Database(db_url, load_settings(home=tmp_path / "seed")) as db:
            await seed(db)

    asyncio.run(fill())
    rep = Replica(db_url, tmp_path / "home", tmp_path / "replica.log")
    try:
        rep.wait_ready()
        yield rep
    finally:
        rep.stop()


def test_reports_page_downloads_xlsx_and_shows_errors(replica: Replica, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        try:
            page = browser.new_page(accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{replica.url}/dashboard/reports")
            page.wait_for_selector("#need-login:not([hidden])", timeout=10_000)
            page.goto(f"{replica.url}/dashboard?token={ADMIN}")  # the dashboard keeps it
            page.click("a[href='/dashboard/reports']")
            page.wait_for_selector("body[data-loaded='true']", timeout=15_000)
            page.fill("#from", "2026-03-01")
            page.fill("#to", "2026-03-01")
            page.select_option("#stations", [PARIS])
            with page.expect_download(timeout=30_000) as info:
                page.click("button[data-format='xlsx']")
            path = tmp_path / "page.xlsx"
            info.value.save_as(path)
            ws = openpyxl.load_workbook(path)["plays"]
            assert [ws.cell(i, 2).value for i in range(2, ws.max_row + 1)] == [PARIS, PARIS]

            page.fill("#tz", "Mars/Olympus")
            page.click("button[data-format='csv']")
            page.wait_for_selector("#report-error:not([hidden])", timeout=10_000)
            assert "unknown time zone" in page.inner_text("#report-error")
            assert not errors, errors
        finally:
            browser.close()


def test_reports_page_downloads_a_soundexchange_return(replica: Replica, tmp_path: Path) -> None:
    """The SoundExchange choice shows its own options and one button, sends them, saves
    the file under the server's name, and lists the recordings SoundExchange cannot
    identify (Song Two has neither ISRC nor album + label)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        try:
            page = browser.new_page(accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{replica.url}/dashboard?token={ADMIN}")
            page.click("a[href='/dashboard/reports']")
            page.wait_for_selector("body[data-loaded='true']", timeout=15_000)
            assert not page.is_visible("#soundexchange-options")
            page.select_option("#report", "soundexchange")
            page.wait_for_selector("#soundexchange-options:not([hidden])", timeout=5_000)
            assert page.is_visible("#download-txt")
            assert not page.is_visible("button[data-format='csv']")
            page.fill("#from", "2026-03-01")
            page.fill("#to", "2026-03-01")
            page.select_option("#stations", [PARIS])
            page.fill("#service-name", "KXYZ")
            page.select_option("#category", "B")
            page.check("#play-frequency")
            with page.expect_download(timeout=30_000) as info:
                page.click("#download-txt")
            download = info.value
            assert download.suggested_filename == "KXYZ20260301_20260301_B.txt"
            path = tmp_path / download.suggested_filename
            download.save_as(path)
            lines = path.read_bytes().split(b"\r\n")
            header = lines[0].decode("ascii").split("|")
            assert header[:2] == ["NAME_OF_SERVICE", "TRANSMISSION_CATEGORY"]
            assert header[-1] == "PLAY_FREQUENCY"
            rows = [line.decode("ascii").split("|") for line in lines[1:] if line]
            assert {r[3] for r in rows} == {"^Song One^", "^Song Two^"}
            assert all(r[0] == "^KXYZ^" and r[1] == "^B^" for r in rows)
            page.wait_for_function(
                "document.getElementById('report-status').textContent.includes('Song Two')",
                timeout=10_000,
            )
            assert "without ISRC or album + label" in page.inner_text("#report-status")
            assert not errors, errors
        finally:
            browser.close()
