"""The orchestrator's HTTP API (ARCHITECTURE §6), as a FastAPI app factory.

Every replica serves the API; only the leader runs the control loop. Workers
authenticate with the worker token, operators with the admin token (which
can call everything); tokens are compared in constant time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airtrack.db import Database
from airtrack.errors import (
    DatabaseError,
    DatabaseUnavailable,
    IntegrityViolation,
    LockContention,
    StreamExists,
)
from airtrack.logging import get_logger
from airtrack.metrics import HTTP_SECONDS
from airtrack.protocol import (
    AssignmentOut,
    HeartbeatRequest,
    HeartbeatResponse,
    PlayOut,
    PlaysRequest,
    PlaysResponse,
    RegisterRequest,
    RegisterResponse,
    StreamCreate,
    StreamOut,
    WorkerId,
    WorkerOut,
)
from airtrack.settings import Settings
from airtrack.web.apidocs import install_api_docs

from . import membership, plays, streams
from .control import ControlLoop
from .tokens import Tokens

log = get_logger("airtrack.orchestrator.api")

SnapshotFn = Callable[[], Awaitable[tuple[Path, str] | None]]


@dataclass
class AppState:
    """Everything the routes need; built by the server, injected for tests."""

    db: Database
    settings: Settings
    tokens: Tokens
    control: ControlLoop | None = None
    snapshot: SnapshotFn | None = None
    catalog_version: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class BodyLimit:
    """ASGI middleware: refuse request bodies larger than ``limit`` bytes (413)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await JSONResponse({"detail": "request body too large"}, 413)(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, "request body too large")
            return message

        await self.app(scope, limited, send)


class RequestTiming:
    """ASGI middleware: request latency per route template (R6.4), without buffering bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_SECONDS.labels(scope["method"], path, str(status)).observe(
                time.perf_counter() - t0
            )


def _app_state(request: Request) -> AppState:
    state: AppState = request.app.state.airtrack
    return state


async def _state(request: Request) -> AppState:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool (costly per request)
    return _app_state(request)


State = Annotated[AppState, Depends(_state)]


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def require(role: str) -> Callable[..., Awaitable[None]]:
    """Dependency: the caller presents a token of ``role`` (admin passes everywhere)."""

    async def check(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> None:
        got = _app_state(request).tokens.role_of(_bearer(authorization))
        if got is None:
            raise HTTPException(
                401, "missing or invalid token", headers={"WWW-Authenticate": "Bearer"}
            )
        if role == "admin" and got != "admin":
            raise HTTPException(403, "this route needs the admin token")

    return check


Worker = Depends(require("worker"))
Admin = Depends(require("admin"))


def _ops(st: AppState) -> Any:
    """The operations runtime (failure accounting, airtrack.ops) when installed, else None."""
    return st.extras.get("ops")


CATALOG_WATCH_S = 5.0


async def watch_catalog(state: AppState, stop: asyncio.Event) -> None:
    """Keep ``state.catalog_version`` current, so heartbeat replies tell workers to refresh.

    ``state.snapshot`` checks the catalog revision (one small query) and rebuilds the
    index snapshot only when the catalog changed.
    """
    assert state.snapshot is not None
    while not stop.is_set():
        try:
            snap = await state.snapshot()
            state.catalog_version = snap[1] if snap else None
        except Exception as exc:  # the DB may be down: keep serving, try again later
            log.warning("catalog.watch_failed", error=str(exc).splitlines()[0] if str(exc) else "")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=CATALOG_WATCH_S)


def create_app(state: AppState, *, lifespan_tasks: bool = False) -> FastAPI:
    """The API over ``state``. ``lifespan_tasks`` runs the control loop inside the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        tasks = []
        if lifespan_tasks and state.control is not None:
            tasks.append(asyncio.create_task(state.control.run(stop), name="control-loop"))
        if lifespan_tasks and state.snapshot is not None:
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
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app)  # /docs from packaged Swagger UI files: no CDN
    app.state.airtrack = state

    app.add_middleware(RequestTiming)

    @app.exception_handler(DatabaseError)
    async def db_error(request: Request, exc: DatabaseError) -> JSONResponse:
        if (ops := _ops(state)) is not None and not isinstance(exc, IntegrityViolation):
            ops.failure("database", f"db.{type(exc).__name__}", str(exc))
        if isinstance(exc, DatabaseUnavailable | LockContention):
            return JSONResponse(
                {"detail": f"database busy or unavailable: {exc}"},
                503,
                headers={"Retry-After": "5"},
            )
        return JSONResponse({"detail": f"database error: {exc}"}, 500)

    v1 = "/api/v1"

    # -- workers ---------------------------------------------------------------

    @app.post(
        f"{v1}/workers/register",
        response_model=RegisterResponse,
        dependencies=[Worker],
        tags=["worker"],
    )
    async def register(req: RegisterRequest, st: State) -> RegisterResponse:
        incarnation, assignments = await membership.register(st.db, req)
        if (ops := _ops(st)) is not None:
            ops.success(f"worker:{req.worker_id}")
        return RegisterResponse(
            worker_id=req.worker_id,
            heartbeat_interval_s=st.settings.heartbeat_interval_s,
            lease_ttl_s=st.settings.lease_ttl_s,
            assignments=assignments,
            incarnation=incarnation,
        )

    @app.post(
        f"{v1}/workers/{{worker_id}}/heartbeat",
        response_model=HeartbeatResponse,
        dependencies=[Worker],
        tags=["worker"],
        responses={404: {"description": "unknown worker: register again"}},
    )
    async def heartbeat(worker_id: WorkerId, req: HeartbeatRequest, st: State) -> HeartbeatResponse:
        outcome = await membership.heartbeat(st.db, worker_id, req)
        ops = _ops(st)
        if outcome is None:
            if ops is not None:
                ops.failure(
                    f"worker:{worker_id}", "heartbeat.unknown", "heartbeat from an unknown worker"
                )
            raise HTTPException(404, "unknown worker: register again")
        if ops is not None:
            ops.observe_heartbeat(worker_id, req)
        recovery = bool(st.extras.get("recovery", lambda: False)())
        return HeartbeatResponse(
            assignments=outcome.assignments,
            recovery_mode=recovery,
            heartbeat_interval_s=st.settings.heartbeat_interval_s,
            catalog_version=st.catalog_version,
        )

    @app.post(
        f"{v1}/workers/{{worker_id}}/deregister",
        dependencies=[Worker],
        tags=["worker"],
        responses={404: {"description": "unknown worker"}},
    )
    async def deregister(worker_id: WorkerId, st: State) -> dict[str, Any]:
        released = await membership.deregister(st.db, worker_id)
        if released is None:
            raise HTTPException(404, "unknown worker")
        if (ops := _ops(st)) is not None:
            ops.left(worker_id)
        return {"worker_id": worker_id, "released": released}

    @app.post(
        f"{v1}/plays",
        response_model=PlaysResponse,
        dependencies=[Worker],
        tags=["worker"],
        responses={409: {"description": "every item had a stale epoch"}},
    )
    async def post_plays(req: PlaysRequest, st: State) -> Response:
        results = await plays.record_plays(st.db, req.plays)
        if (ops := _ops(st)) is not None:
            ops.observe_plays(req.plays, results)
        body = PlaysResponse(results=results).model_dump()
        code = 409 if results and all(r.status == "stale" for r in results) else 200
        return JSONResponse(body, code)

    @app.get(
        f"{v1}/catalog/snapshot",
        dependencies=[Worker],
        tags=["worker"],
        responses={
            200: {"content": {"application/octet-stream": {}}},
            304: {"description": "not modified"},
            404: {"description": "empty"},
        },
    )
    async def snapshot(
        st: State, if_none_match: Annotated[str | None, Header()] = None
    ) -> Response:
        if st.snapshot is None:
            raise HTTPException(404, "no catalog snapshot available")
        snap = await st.snapshot()
        if snap is None:
            raise HTTPException(404, "the catalog is empty")
        path, version = snap
        st.catalog_version = version
        etag = f'"{version}"'
        if if_none_match and if_none_match.strip() in (etag, version):
            return Response(status_code=304, headers={"ETag": etag})
        return FileResponse(path, media_type="application/octet-stream", headers={"ETag": etag})

    # -- admin -----------------------------------------------------------------

    @app.get(f"{v1}/streams", response_model=list[StreamOut], dependencies=[Admin], tags=["admin"])
    async def get_streams(st: State) -> list[dict[str, Any]]:
        return await streams.list_streams(st.db)

    @app.post(
        f"{v1}/streams",
        response_model=StreamOut,
        status_code=201,
        dependencies=[Admin],
        tags=["admin"],
        responses={409: {"description": "name taken"}},
    )
    async def post_stream(req: StreamCreate, st: State) -> dict[str, Any]:
        try:
            return await streams.add_stream(st.db, req)
        except StreamExists as exc:
            raise HTTPException(409, str(exc)) from None

    @app.delete(
        f"{v1}/streams/{{name}}",
        dependencies=[Admin],
        tags=["admin"],
        responses={404: {"description": "no such stream"}},
    )
    async def delete_stream(name: str, st: State) -> dict[str, Any]:
        if not await streams.remove_stream(st.db, name):
            raise HTTPException(404, f"no stream named {name!r}")
        return {"removed": name}

    @app.get(f"{v1}/workers", response_model=list[WorkerOut], dependencies=[Admin], tags=["admin"])
    async def get_workers(st: State) -> list[dict[str, Any]]:
        return await streams.list_workers(st.db)

    @app.get(
        f"{v1}/assignments",
        response_model=list[AssignmentOut],
        dependencies=[Admin],
        tags=["admin"],
    )
    async def get_assignments(st: State) -> list[dict[str, Any]]:
        return await streams.list_assignments(st.db)

    @app.get(f"{v1}/plays", response_model=list[PlayOut], dependencies=[Admin], tags=["admin"])
    async def get_plays(
        st: State,
        stream: Annotated[str | None, Query(max_length=200)] = None,
        since: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> list[dict[str, Any]]:
        if since is not None and since.tzinfo is None:
            raise HTTPException(422, "since must carry a time zone (e.g. 2026-01-01T00:00:00Z)")
        return await plays.list_plays(st.db, stream=stream, since=since, limit=limit)

    # -- probes ----------------------------------------------------------------

    @app.get("/healthz", tags=["probes"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["probes"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    from airtrack.ops.routes import router as ops_router  # imports this module: late

    app.include_router(ops_router)
    return app


def wrap(app: FastAPI, settings: Settings) -> ASGIApp:
    """The ASGI app as served: the API behind the request-size limit."""
    return BodyLimit(app, settings.max_request_bytes)
