"""The worker's stable identity and its folder under ``AIRTRACK_HOME``."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from pathlib import Path

from airtrack.settings import Settings


def resolve_worker_id(settings: Settings) -> str:
    """``settings.worker_id``, else ``<hostname>-<suffix>`` with a suffix kept under HOME.

    The suffix is created once and reused, so a restarted worker comes back under
    the same id and keeps its streams (protocol rule 1 in docs/architecture.md).
    """
    if settings.worker_id:
        return settings.worker_id
    host = re.sub(r"[^A-Za-z0-9._-]+", "-", socket.gethostname()).strip("-")[:100] or "worker"
    path = settings.home / "worker-suffix"
    suffix = ""
    with contextlib.suppress(FileNotFoundError):
        suffix = path.read_text().strip()
    if not re.fullmatch(r"[0-9a-f]{6}", suffix):
        suffix = secrets.token_hex(3)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(suffix + "\n")
        os.replace(tmp, path)
    return f"{host}-{suffix}"


def worker_home(settings: Settings, worker_id: str) -> Path:
    """``HOME/worker-<id>``: the outbox, the cached catalog and the last assignments."""
    path = settings.home / f"worker-{worker_id}"
    path.mkdir(parents=True, exist_ok=True)
    return path
