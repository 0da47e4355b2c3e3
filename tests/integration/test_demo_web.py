"""The demo's dashboard link and API docs over HTTP against a real orchestrator process.

The printed dashboard link keeps the token out of what any server sees; an old-style
``/?token=`` link is carried over instead of dropped; ``/docs`` needs no other host.
(tests/e2e/test_dashboard.py follows the same links in a real browser.)
"""

from __future__ import annotations

import re

import httpx

from airtrack.web.login import dashboard_link
from tests.integration.orch_support import ADMIN
from tests.integration.test_orchestrator_replicas import Replica


def test_dashboard_link_and_old_token_link(replica: Replica) -> None:
    link = dashboard_link(replica.url, ADMIN)
    page, _, fragment = link.partition("#")
    assert page == f"{replica.url}/dashboard" and fragment == f"token={ADMIN}"
    assert httpx.get(page).status_code == 200
    old = httpx.get(f"{replica.url}/?token={ADMIN}")
    assert old.status_code in (302, 307)
    assert old.headers["location"] == f"/dashboard#token={ADMIN}"
    assert old.headers["cache-control"] == "no-store"
    plain = httpx.get(f"{replica.url}/")
    assert plain.headers["location"] == "/dashboard"


def test_api_docs_reference_no_external_host(replica: Replica) -> None:
    html = httpx.get(f"{replica.url}/docs").text
    urls = re.findall(r"https?://[^\s\"'<>]+", html)
    assert all(u.startswith(replica.url) for u in urls), urls
    srcs = re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", html)
    assert srcs and all(s.startswith("/") for s in srcs), srcs
    for src in srcs:
        assert httpx.get(replica.url + src).status_code == 200, src
    assert httpx.get(f"{replica.url}/docs/assets/index.html").status_code == 404
    assert httpx.get(f"{replica.url}/redoc").status_code == 404
    assert httpx.get(f"{replica.url}/openapi.json").json()["info"]["title"]
