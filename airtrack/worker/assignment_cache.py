"""The last assignments a worker was given, kept on disk.

A worker that starts while the orchestrator is unreachable resumes the streams it
had (local mode) instead of monitoring nothing; the file is replaced atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from airtrack.logging import get_logger
from airtrack.protocol import Assignment

log = get_logger(__name__)


class AssignmentCache:
    """``HOME/…/assignments.json``: written on every change, read when starting offline."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, assignments: list[Assignment]) -> None:
        data = [a.model_dump(mode="json") for a in assignments]
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data))
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("assignments_cache_failed", error=str(exc))

    def load(self) -> list[Assignment]:
        try:
            data = json.loads(self.path.read_text())
            out = [Assignment.model_validate(d) for d in data]
        except (OSError, ValueError):
            return []
        if out:
            log.warning("local_mode_resume", streams=len(out))
        return out
