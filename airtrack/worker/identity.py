"""The worker's stable identity and its folder under ``AIRTRACK_HOME``.

One process per folder: :func:`lock_worker_home` holds an OS lock on
``HOME/worker-<id>/worker.lock`` for the process's life. Two processes under one
home and id would register as one worker; when one of them stopped it would
deregister the id and take the other's streams (and its queued plays' epochs) away.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
from pathlib import Path

from airtrack.errors import HomeInUse
from airtrack.settings import Settings

LOCK_FILE = "worker.lock"
_SUFFIX = r"[0-9a-f]{6}"


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
    if not re.fullmatch(_SUFFIX, suffix):
        suffix = _new_suffix(path)
    return f"{host}-{suffix}"


def _new_suffix(path: Path) -> str:
    """Create the suffix file, or read the one another process created meanwhile: two
    workers first started at once on one home must agree (else one's outbox, under an id
    the file no longer names, would never be sent)."""
    new = secrets.token_hex(3)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(new + "\n")
    try:
        os.link(tmp, path)  # atomic, and refused when the file is there
        return new
    except FileExistsError:
        there = path.read_text().strip()
        if re.fullmatch(_SUFFIX, there):  # another process made it meanwhile
            return there
        os.replace(tmp, path)  # there but damaged: replaced
        return new
    finally:
        tmp.unlink(missing_ok=True)


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


class HomeLock:
    """An exclusive ``flock`` on the worker's folder; the kernel drops it when the process
    dies, however it dies, so a stale lock file never keeps a worker out."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def lock_worker_home(folder: Path) -> HomeLock:
    """Hold ``folder`` for this process (its PID written in the lock file).

    Raises :class:`HomeInUse`, naming the holder's PID, when another process holds it.
    The descriptor is not inherited by the worker's child processes (ffmpeg).
    """
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        pid = int(text) if text.isdigit() else None
        raise HomeInUse(
            f"worker home {folder} is in use by process {pid if pid else '(unknown)'}: "
            "one worker process per home and worker id; stop that one first, or give this "
            "one its own AIRTRACK_HOME",
            pid=pid,
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return HomeLock(path, fd)
