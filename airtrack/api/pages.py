"""The dashboard's files as the API serves them: pages carry no data (they ask for the
admin token and call the API with it), so they are never cached nor framed; their
scripts and styles are revalidated on each load."""

from __future__ import annotations

from fastapi.responses import FileResponse

from airtrack.web import ASSETS


def page(name: str) -> FileResponse:
    """The dashboard page ``name`` (HTML)."""
    return FileResponse(
        ASSETS / name,
        media_type="text/html",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


def asset(name: str, media_type: str) -> FileResponse:
    """A script or style of the dashboard."""
    return FileResponse(ASSETS / name, media_type=media_type, headers={"Cache-Control": "no-cache"})
