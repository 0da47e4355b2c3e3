"""Run the real CLI: ``python -m airtrack ...`` in a subprocess that dies with the run
(:func:`run_cli`), or the same command line in this process (:func:`invoke_cli`)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

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


def invoke_cli(
    *args: str,
    home: Path | None = None,
    env: Mapping[str, str | None] | None = None,
    clean_env: bool = True,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``airtrack ARGS`` in this process (click's runner): the same command, exit code and
    output as :func:`run_cli`, without a Python start per call (seconds on a busy machine).

    For tests of a command's logic; a test of process behaviour (signals, exit on a
    broken pipe, what the interpreter prints) keeps :func:`run_cli`. The command runs in a
    thread of its own, so its ``asyncio.run`` works under an async test; the logging it
    configures (bound to the runner's streams) is put back as it was afterwards.

    ``env`` is set for the command's run (a None value unsets a variable); ``clean_env``
    unsets the caller's other ``AIRTRACK_*`` variables, as :func:`run_cli` does."""
    from typer.testing import CliRunner

    from airtrack.cli.commands import app

    changes: dict[str, str | None] = {}
    if clean_env:
        changes |= {k: None for k in os.environ if k.startswith("AIRTRACK_")}
    if home is not None:
        changes["AIRTRACK_HOME"] = str(home)
    changes |= env or {}
    saved = _LoggingState()
    box: list[Any] = []

    def invoke() -> None:
        box.append(CliRunner().invoke(app, list(args), input=input, env=changes))

    argv = sys.argv
    sys.argv = ["airtrack", *args]  # a command names itself from its command line
    try:
        worker = threading.Thread(target=invoke, name="airtrack-cli")
        worker.start()
        worker.join()
    finally:
        sys.argv = argv
        saved.restore()
    (result,) = box
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(
        ["airtrack", *args], result.exit_code, result.stdout, result.stderr
    )


class _LoggingState:
    """structlog's and the stdlib's logging configuration, to put back after a command
    configured them for its own (captured, then closed) streams."""

    def __init__(self) -> None:
        import airtrack.logging as airtrack_logging

        self._structlog = structlog.get_config()
        root = logging.getLogger()
        self._root = (list(root.handlers), root.level)
        self._levels = {
            name: logging.getLogger(name).level
            for name in ("pgserver", "httpx", "httpcore", "psycopg.pool", "psycopg")
        }
        self._configured = airtrack_logging._configured

    def restore(self) -> None:
        import airtrack.logging as airtrack_logging

        structlog.configure(**self._structlog)
        root = logging.getLogger()
        root.handlers[:] = self._root[0]
        root.setLevel(self._root[1])
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)
        airtrack_logging._configured = self._configured
