"""``airtrack orchestrator``: database, tokens, control loop and the HTTP server, together."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import signal
import socket
from functools import partial
from pathlib import Path

import uvicorn

from airtrack.api import AppState, SnapshotFn, create_app, wrap
from airtrack.catalog.manifest import SegmentStore
from airtrack.catalog.snapshot import ensure_snapshot
from airtrack.db import connect, database_url
from airtrack.errors import ConfigError
from airtrack.logging import get_logger
from airtrack.ops import Operations
from airtrack.ops import install as install_ops
from airtrack.ops.alerts import unusable_prints
from airtrack.orchestrator.control import ControlLoop
from airtrack.orchestrator.tokens import Tokens, load_or_create_tokens
from airtrack.settings import Settings

log = get_logger("airtrack.orchestrator")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def weak_token(token: str, min_length: int) -> str | None:
    """Why ``token`` is too weak for a public bind, or None (length and variety)."""
    if len(token) < min_length:
        return f"shorter than {min_length} characters"
    if len(set(token)) < min(16, min_length // 2):
        return "too few distinct characters"
    return None


def check_bind(settings: Settings, tokens: Tokens) -> None:
    """Refuse tokens that would let one caller act as another, and weak tokens in public.

    Equal tokens make every worker an admin: refused everywhere. On a non-loopback
    address the tokens must be strong (``airtrack tokens new``), and generated
    default tokens need the explicit ``allow_public_bind``.
    """
    if tokens.admin and hmac.compare_digest(tokens.admin.encode(), tokens.worker.encode()):
        raise ConfigError(
            "AIRTRACK_ADMIN_TOKEN and AIRTRACK_WORKER_TOKEN are equal: every worker would be "
            "an admin; `airtrack tokens new` prints two strong ones"
        )
    if _is_loopback(settings.host):
        return
    if tokens.generated and not settings.allow_public_bind:
        raise ConfigError(
            f"refusing to listen on {settings.host} with generated tokens: set "
            "AIRTRACK_ADMIN_TOKEN and AIRTRACK_WORKER_TOKEN, or AIRTRACK_ALLOW_PUBLIC_BIND=true"
        )
    for name, token in (
        ("AIRTRACK_ADMIN_TOKEN", tokens.admin),
        ("AIRTRACK_WORKER_TOKEN", tokens.worker),
    ):
        why = weak_token(token, settings.public_token_min_length)
        if why is not None:
            raise ConfigError(
                f"refusing to listen on {settings.host}: {name} is {why}; "
                "`airtrack tokens new` prints strong ones"
            )


def _snapshot_fn(state: AppState) -> SnapshotFn:
    async def snapshot() -> tuple[Path, str] | None:
        snap = await ensure_snapshot(
            state.db, state.settings, on_skipped=partial(unusable_prints, state.db)
        )
        if snap is None:
            return None
        return Path(snap.path), str(snap.version)

    return snapshot


async def build_state(
    settings: Settings, *, with_control: bool = True
) -> tuple[AppState, Operations]:
    """The API's state with the control loop and the operations runtime plugged in."""
    tokens = load_or_create_tokens(settings)
    check_bind(settings, tokens)
    url = database_url(settings)
    db = await connect(settings)
    state = AppState(db=db, settings=settings, tokens=tokens)

    def leads() -> bool:
        return state.control is not None and state.control.is_leader

    ops = install_ops(
        db, settings, replica_id=f"{socket.gethostname()}:{os.getpid()}", leader=leads
    )
    state.hooks = ops
    if with_control:
        state.control = ControlLoop(db, settings, url, recovery=ops.recovery, on_tick=ops.on_tick)
    state.snapshot = _snapshot_fn(state)
    state.segments = SegmentStore(db, settings, on_skipped=partial(unusable_prints, db))
    return state, ops


async def _report_port(server: uvicorn.Server, settings: Settings) -> None:
    """Log the port the server listens on once it does: with ``--port 0`` the kernel chose
    it, and whoever started this process (a test, a script) reads it from this line."""
    while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
        await asyncio.sleep(0.05)
    port = int(server.servers[0].sockets[0].getsockname()[1])
    log.info("orchestrator.listening", host=settings.host, port=port)


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT; return the exit code."""
    state, ops = await build_state(settings)
    app = create_app(state, lifespan_tasks=True)
    config = uvicorn.Config(
        wrap(app, settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=75,  # longer than a heartbeat interval: workers keep the connection
    )
    server = uvicorn.Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    log.info(
        "orchestrator.start",
        host=settings.host,
        port=settings.port,
        tokens=str(state.tokens.path) if state.tokens.path else "from settings",
    )
    ops.start()
    reporter = asyncio.create_task(_report_port(server, settings))
    try:
        await server.serve()
    finally:
        reporter.cancel()
        await ops.close()
        await state.db.close()
        log.info("orchestrator.stopped")
    return 0
