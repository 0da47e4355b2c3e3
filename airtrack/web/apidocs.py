"""The API docs (``/docs``) without the internet: Swagger UI served from a package.

FastAPI's default ``/docs`` page loads Swagger UI from a CDN, so on an air-gapped server
it is blank. The ``swagger-ui-bundle-v2`` package ships the Swagger UI distribution
(Apache-2.0); its files are served here under ``/docs/assets``. ReDoc has no packaged
build, so ``/redoc`` is off rather than blank.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

ASSETS_PATH = "/docs/assets"
#: The files the page needs; nothing else in the package folder is served.
_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def install_api_docs(app: FastAPI, path: str = "/docs") -> None:
    """Serve Swagger UI for ``app.openapi_url`` at ``path`` from local files.

    Create the app with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are off.
    """

    @app.get(path, include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def api_docs_asset(name: str) -> Response:
        media = _TYPES.get(name)
        if media is None:
            raise HTTPException(404, "no such asset")
        return FileResponse(
            str(swagger_ui_path / name),
            media_type=media,
            headers={"Cache-Control": "public, max-age=86400"},
        )
