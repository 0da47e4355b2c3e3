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


def worker_credential(settings: Settings, worker_id: str) -> str:
    """This worker's own secret, created once under ``HOME/worker-<id>/`` (mode 0600).

    Presented on every call, it claims the worker id at the first register, so no
    other holder of the fleet's worker token can speak for this worker
    (docs/security.md). Losing it locks the id until it goes inactive or an admin
    resets it.
    """
    path = worker_home(settings, worker_id) / "credential"
    with contextlib.suppress(FileNotFoundError):
        secret = path.read_text().strip()
        if len(secret) >= 32:
            return secret
    secret = secrets.token_urlsafe(32)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    os.replace(tmp, path)
    return secret
