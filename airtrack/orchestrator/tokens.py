"""API tokens: from settings, or generated once and kept under AIRTRACK_HOME (mode 0600)."""

from __future__ import annotations

import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from airtrack.logging import get_logger
from airtrack.settings import Settings

log = get_logger("airtrack.orchestrator.tokens")

TOKENS_FILE = "tokens.json"


@dataclass(frozen=True)
class Tokens:
    admin: str
    worker: str
    generated: bool
    path: Path | None

    def role_of(self, presented: str | None) -> str | None:
        """``"admin"``, ``"worker"`` or ``None``; compared in constant time."""
        if not presented:
            return None
        given = presented.encode()
        is_admin = hmac.compare_digest(given, self.admin.encode())
        is_worker = hmac.compare_digest(given, self.worker.encode())
        if is_admin:
            return "admin"
        if is_worker:
            return "worker"
        return None


def tokens_path(settings: Settings) -> Path:
    return settings.home / TOKENS_FILE


def load_or_create_tokens(settings: Settings) -> Tokens:
    """Tokens from settings; missing ones are read from, or generated into, HOME/tokens.json."""
    if settings.admin_token and settings.worker_token:
        return Tokens(settings.admin_token, settings.worker_token, False, None)
    path = tokens_path(settings)
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    if not stored.get("admin") or not stored.get("worker"):
        stored = {"admin": secrets.token_urlsafe(32), "worker": secrets.token_urlsafe(32)}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh)
        os.chmod(path, 0o600)
        log.info("tokens.generated", path=str(path))
    return Tokens(
        settings.admin_token or stored["admin"],
        settings.worker_token or stored["worker"],
        not (settings.admin_token or settings.worker_token),
        path,
    )
