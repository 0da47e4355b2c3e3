"""The orchestrator's HTTP API as a FastAPI app: routers, error mapping, lifespan tasks.

Every replica serves the API; only the leader runs the control loop. Workers
authenticate with the worker token, operators with the admin token (which can
call everything); tokens are compared in constant time (:mod:`.deps`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from airtrack.db.listener import EventSignal
from airtrack.errors import (
    AirtrackError,
    AudioError,
    CatalogConflict,
    CatalogError,
    ClipTooLarge,
    DatabaseError,
    DatabaseUnavailable,
    InputRefused,
    IntegrityViolation,
    LockContention,
    MetadataImportError,
    NoSuchUnknown,
    ReportRequestError,
    StreamExists,
    StreamFieldError,
    StreamImportError,
    UnknownStream,
    UnknownTrack,
    UnknownWebhook,
    WebhookError,
    WebhookLimit,
    first_line,
)
from airtrack.logging import get_logger
from airtrack.orchestrator.archive_jobs import ArchiveJobs
from airtrack.orchestrator.control import ControlLoop
from airtrack.orchestrator.delivery import WebhookDelivery
from airtrack.orchestrator.discovery import DiscoveryJob
from airtrack.settings import Settings
from airtrack.web.apidocs import install_api_docs

from . import (
    admin,
    catalog,
    integrations,
    operations,
    probes,
    reports,
    returns,
    unknowns,
    uploads,
    workers,
)
from .middleware import BodyLimit, RequestTiming
from .state import AppState

log = get_logger("airtrack.api")

#: The one place an error becomes an HTTP status (docs/architecture.md#api-errors).
#: Routes let these through; the most specific class of a raised error that is here wins.
#: An error of no class here is a bug: a 500 with its traceback in the log.
ERROR_STATUS: dict[type[AirtrackError], int] = {
    ReportRequestError: 400,  # a bad range, zone, format or cursor
    UnknownStream: 404,
    UnknownTrack: 404,
    NoSuchUnknown: 404,
    UnknownWebhook: 404,
    StreamExists: 409,  # a stream with that name or URL exists
    CatalogConflict: 409,  # a concurrent change got in the way
    WebhookLimit: 409,  # as many webhook endpoints as the setting allows
    StreamFieldError: 422,  # a refused value or file: the caller's to fix
    CatalogError: 422,
    ClipTooLarge: 413,  # a proof clip above clip_max_bytes
    InputRefused: 422,
    WebhookError: 422,
    AudioError: 422,
    DatabaseUnavailable: 503,  # with Retry-After
    LockContention: 503,  # with Retry-After
    DatabaseError: 500,
}

#: How long a 503 asks the caller to wait before it tries again (seconds).
_RETRY_AFTER_S = "5"


def error_status(exc: BaseException) -> int | None:
    """The status ``exc`` answers with: its most specific class in ``ERROR_STATUS``."""
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return None


async def watch_catalog(state: AppState, stop: asyncio.Event) -> None:
    """Keep ``state.catalog_version`` current, so heartbeat replies tell workers to refresh.

    ``state.segments`` (else ``state.snapshot``) checks the catalog revision (one small
    query) and builds a delta segment (else the whole index) only when the catalog changed.
    """
    while not stop.is_set():
        try:
            if state.segments is not None:
                # a delta per change: the full snapshot is built only when asked for
                body = await state.segments.manifest()
                state.catalog_version = str(body["version"]) if body else None
            elif state.snapshot is not None:
                snap = await state.snapshot()
                state.catalog_version = snap[1] if snap else None
        except Exception as exc:  # the DB may be down: keep serving, try again later
            log.warning("catalog.watch_failed", error=first_line(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=state.settings.catalog_watch_s)


def start_integrations(
    state: AppState, control: ControlLoop, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """The event listener and webhook delivery (which acts only while this replica leads)."""
    signal = state.events = EventSignal(state.settings.events_poll_s)
    delivery = WebhookDelivery(
        state.db,
        state.settings,
        signal,
        replica_id=control.replica_id,
        leads=lambda: control.is_leader,
    )
    listen = signal.listen(state.db.url, stop, timeout_s=state.settings.leader_db_timeout_s)
    return [
        asyncio.create_task(listen, name="events-listen"),
        asyncio.create_task(delivery.run(stop), name="webhook-delivery"),
    ]


def create_app(state: AppState, *, lifespan_tasks: bool = False) -> FastAPI:
    """The API over ``state``. ``lifespan_tasks`` runs the control loop inside the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = []
        if lifespan_tasks and state.control is not None:
            tasks.append(asyncio.create_task(state.control.run(stop), name="control-loop"))
            tasks.extend(start_integrations(state, state.control, stop))
            control = state.control
            jobs = ArchiveJobs(state.db, state.settings, lambda: control.is_leader)
            tasks.append(asyncio.create_task(jobs.run(stop), name="archive-jobs"))
            discovery = DiscoveryJob(state.db, state.settings, lambda: control.is_leader)
            tasks.append(asyncio.create_task(discovery.run(stop), name="unknown-discovery"))
        if lifespan_tasks:
            watch = state.clip_requests.watch(state.db, state.settings.clip_requests_poll_s, stop)
            tasks.append(asyncio.create_task(watch, name="clip-requests"))
        if lifespan_tasks and (state.snapshot is not None or state.segments is not None):
            tasks.append(asyncio.create_task(watch_catalog(state, stop), name="catalog-watch"))
        try:
            yield
        finally:
            stop.set()
            if tasks:
                await asyncio.wait(tasks, timeout=10)
                for task in tasks:
                    task.cancel()

    app = FastAPI(
        title="airtrack orchestrator",
        version="1",
        description="Assigns streams to workers, fences every write with an epoch, "
        "and records the plays they report.",
        lifespan=lifespan,
        docs_url=None,  # /docs is served from packaged Swagger UI files: no CDN
        redoc_url=None,
    )
    install_api_docs(app)
    app.state.airtrack = state
    app.add_middleware(RequestTiming)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Without the offending input: it may be NaN (which JSON cannot carry, so the
        # default reply would fail with a 500) or a megabyte of what the caller sent.
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, 422)

    @app.exception_handler(AirtrackError)
    async def mapped(request: Request, exc: Exception) -> JSONResponse:
        status = error_status(exc)
        if status is None:
            raise exc  # not an answer the API gives on purpose: a 500, traceback logged
        if isinstance(exc, DatabaseError):
            if not isinstance(exc, IntegrityViolation):
                state.hooks.failure("database", f"db.{type(exc).__name__}", str(exc))
            what = "database busy or unavailable" if status == 503 else "database error"
            detail = f"{what}: {exc}"
        else:
            detail = first_line(exc)
        body: dict[str, object] = {"detail": detail}
        if isinstance(exc, MetadataImportError | StreamImportError):
            body["problems"] = exc.problems
        headers = {"Retry-After": _RETRY_AFTER_S} if status == 503 else None
        return JSONResponse(body, status, headers=headers)

    for router in (
        workers.router,
        admin.router,
        catalog.router,
        integrations.router,
        operations.router,
        probes.router,
        reports.router,
        returns.router,
        uploads.router,
        unknowns.router,
    ):
        app.include_router(router)
    app.include_router(reports.pages)  # before operations.pages' /dashboard/{name}
    app.include_router(operations.pages)
    return app


def wrap(app: FastAPI, settings: Settings) -> ASGIApp:
    """The ASGI app as served: the API behind the request-size limit."""
    return BodyLimit(app, settings.max_request_bytes)
