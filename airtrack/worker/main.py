"""``airtrack worker``: build the worker from settings and run it until a signal."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from airtrack.logging import get_logger
from airtrack.settings import Settings
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.identity import (
    lock_worker_home,
    resolve_worker_id,
    worker_credential,
    worker_home,
)
from airtrack.worker.outbox import Outbox
from airtrack.worker.pipeline import PipelineConfig
from airtrack.worker.supervisor import Supervisor

log = get_logger(__name__)


def worker_token(settings: Settings) -> str | None:
    """The worker token: from settings, else the one an orchestrator on this host generated."""
    if settings.worker_token:
        return settings.worker_token
    try:
        token = json.loads((settings.home / "tokens.json").read_text()).get("worker")
    except (OSError, ValueError, AttributeError):
        return None
    return str(token) if token else None


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    shutdown_timeout_s: float | None = None,
) -> int:
    """Run a worker until SIGTERM/SIGINT (or ``stop``); returns the process exit code."""
    worker_id = resolve_worker_id(settings)
    home = worker_home(settings, worker_id)
    held = lock_worker_home(home)  # before anything is read or sent under this identity
    try:
        return await _run(settings, worker_id, home, stop, shutdown_timeout_s)
    finally:
        held.release()


async def _run(
    settings: Settings,
    worker_id: str,
    home: Path,
    stop: asyncio.Event | None,
    shutdown_timeout_s: float | None,
) -> int:
    outbox = Outbox(home / "outbox.sqlite", max_archive=settings.archive_outbox_max)
    client = OrchestratorClient.from_settings(
        settings,
        token=worker_token(settings),
        worker_id=worker_id,
        credential=worker_credential(settings, worker_id),
    )
    sup = Supervisor(
        settings,
        worker_id=worker_id,
        client=client,
        outbox=outbox,
        home=home,
        pipeline_config=PipelineConfig.from_settings(settings),
        shutdown_timeout_s=shutdown_timeout_s,
    )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, _on_signal, stop, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread / platform
            pass
    log.info(
        "worker_starting",
        worker_id=worker_id,
        orchestrator=settings.orchestrator_url,
        capacity=settings.capacity,
        outbox=str(outbox.path),
        outbox_pending=len(outbox),
    )
    try:
        return await sup.run(stop)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    log.info("worker_signal", signal=sig.name)
    stop.set()
