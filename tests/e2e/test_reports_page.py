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
