"""Run the real CLI (``python -m airtrack ...``) in a subprocess that dies with the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.processes import run


def run_cli(
    *args: str,
    home: Path | None = None,
    env: dict[str, str] | None = None,
    clean_env: bool = True,
    timeout: float = 120.0,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``airtrack ARGS`` with ``env`` (and ``AIRTRACK_HOME=home`` when given); output
    captured as text.

    ``clean_env`` drops the caller's ``AIRTRACK_*`` variables, so a developer's own
    settings never leak into a test."""
    base = {k: v for k, v in os.environ.items() if not (clean_env and k.startswith("AIRTRACK_"))}
    if home is not None:
        base["AIRTRACK_HOME"] = str(home)
    base.update(env or {})
    return run(
        [sys.executable, "-m", "airtrack", *args],
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )
