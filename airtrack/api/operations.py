"""Operator routes: diagnostics, health, alerts (admin token) and the dashboard (R6.1–R6.3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from airtrack.ops.alerts import alert_json, list_alerts
from airtrack.ops.diagnostics import collect
from airtrack.ops.health import run_health
from airtrack.protocol import API_PREFIX
from airtrack.web.login import dashboard_redirect

from .deps import Admin, State
from .pages import asset, page
from .state import AppState

router = APIRouter(prefix=API_PREFIX, dependencies=[Admin], tags=["admin"])
pages = APIRouter(include_in_schema=False)

#: The dashboard's files; nothing else under the folder is served.
_ASSET_TYPES = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}


def _recovery(st: AppState) -> dict[str, Any]:
    return {"on": bool(st.hooks.recovery()), "since": st.hooks.recovery_since()}


@router.get("/diagnostics")
async def diagnostics(st: State) -> dict[str, Any]:
    """Full state of workers, streams and assignments, plus findings with fixes (R6.1, R6.2)."""
    return await collect(st.db, st.settings, recovery=_recovery(st))


@router.get("/health", responses={503: {"description": "a check failed"}})
async def health(st: State) -> JSONResponse:
    """Live checks: database reachable and writable, migrations, leader, integrity (R6.3)."""
    result = await run_health(st.db, st.settings)
    result["recovery_mode"] = _recovery(st)["on"]
    return JSONResponse(result, 200 if result["ok"] else 503)


@router.get("/alerts")
async def alerts(
    st: State,
    all: Annotated[bool, Query(description="Include resolved alerts.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Open alerts (``?all=true``: resolved ones too), most severe first."""
    return [alert_json(a) for a in await list_alerts(st.db, include_resolved=all, limit=limit)]


@pages.get("/")
async def root(request: Request) -> Response:
    return dashboard_redirect(request)


@pages.get("/dashboard")
async def dashboard() -> Response:
    return page("index.html")


@pages.get("/dashboard/{name}")
async def dashboard_asset(name: str) -> Response:
    media = _ASSET_TYPES.get(name)
    if media is None:
        raise HTTPException(404, "no such asset")
    return asset(name, media)
