"""Fixtures of the end-to-end chaos suite: the demo catalog, generated once per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def e2e_cache() -> Iterator[Path]:
    """Where the generated catalog MP3s live for the session (``AIRTRACK_E2E_CACHE`` keeps
    them across runs). Not pytest's tmp_path: its numbered dirs are pruned by other runs."""
    given = os.environ.get("AIRTRACK_E2E_CACHE")
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="airtrack-e2e-cache-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
