"""Operator routes: diagnostics, health, alerts and the dashboard (R6.1–R6.3)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from airtrack.orchestrator.app import Admin, AppState, State
from airtrack.web import ASSETS
from airtrack.web.login import dashboard_redirect

from .alerts import alert_json, list_alerts
from .diagnostics import collect
from .health import run_health

router = APIRouter()
V1 = "/api/v1"

#: The dashboard's files; nothing else under the folder is served.
_ASSET_TYPES = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
}


def _recovery(st: AppState) -> dict[str, Any]:
    ops = st.extras.get("ops")
    if ops is not None:
        return {"on": bool(ops.recovery()), "since": ops.recovery_since()}
    return {"on": bool(st.extras.get("recovery", lambda: False)()), "since": None}


@router.get(f"{V1}/diagnostics", dependencies=[Admin], tags=["admin"])
async def diagnostics(st: State) -> dict[str, Any]:
    """Full state of workers, streams and assignments, plus findings with fixes (R6.1, R6.2)."""
    return await collect(st.db, st.settings, recovery=_recovery(st))


@router.get(
    f"{V1}/health",
    dependencies=[Admin],
    tags=["admin"],
    responses={503: {"description": "a check failed"}},
)
async def health(st: State) -> JSONResponse:
    """Live checks: database reachable and writable, migrations, leader, integrity (R6.3)."""
    result = await run_health(st.db, st.settings)
    result["recovery_mode"] = _recovery(st)["on"]
    return JSONResponse(result, 200 if result["ok"] else 503)


@router.get(f"{V1}/alerts", dependencies=[Admin], tags=["admin"])
async def alerts(
    st: State,
    all: Annotated[bool, Query(description="Include resolved alerts.")] = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Open alerts (``?all=true``: resolved ones too), most severe first."""
    return [alert_json(a) for a in await list_alerts(st.db, include_resolved=all, limit=limit)]


@router.get("/", include_in_schema=False)
async def root(request: Request) -> Response:
    return dashboard_redirect(request)


@router.get("/dashboard", include_in_schema=False)
async def dashboard() -> Response:
    # The page carries no data; it asks for the admin token and calls the API with it.
    return FileResponse(
        ASSETS / "index.html",
        media_type="text/html",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


@router.get("/dashboard/{name}", include_in_schema=False)
async def dashboard_asset(name: str) -> Response:
    media = _ASSET_TYPES.get(name)
    if media is None:
        raise HTTPException(404, "no such asset")
    return FileResponse(ASSETS / name, media_type=media, headers={"Cache-Control": "no-cache"})
