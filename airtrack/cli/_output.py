"""Output shared by the catalog commands and ``scan``: safe text, durations, JSON, progress.

Results go to stdout; progress bars go to stderr and only when stderr is a terminal.
Light on purpose: ``scan`` imports it without the database driver, and a JSON answer
(``print_json``) loads no rich either: the consoles are imported where text is printed.
"""

from __future__ import annotations

import json as jsonlib
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def safe(text: object) -> str:
    """Printable text: file names may hold bytes that are not UTF-8."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def say(text: str, *, style: str | None = None) -> None:
    from ._console import out

    out.print(safe(text), markup=False, highlight=False, soft_wrap=True, style=style)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    return (
        f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def print_json(value: object) -> None:
    sys.stdout.write(jsonlib.dumps(value, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


class Bar:
    """A progress bar on stderr when it is a terminal; ``say`` prints a result line.

    Not a terminal (a log, a pipe): ``tick`` writes a progress line to stderr at most
    every ``catalog_progress_line_s`` seconds instead, so a long batch shows it is alive.
    """

    def __init__(self, progress: Progress | None, task: TaskID | None, every_s: float) -> None:
        self._progress = progress
        self._task = task
        self._every_s = every_s
        self._last_tick = time.monotonic()

    def advance_to(self, completed: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed)

    def set_total(self, total: float | None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def describe(self, text: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=text)

    def tick(self, line: str, *, force: bool = False) -> None:
        if self._progress is not None:
            return
        now = time.monotonic()
        if force or now - self._last_tick >= self._every_s:
            self._last_tick = now
            from ._console import err

            err.print(safe(line), markup=False, highlight=False, soft_wrap=True)

    def say(self, text: str, *, style: str | None = None) -> None:
        from ._console import out

        if self._progress is not None and out.is_terminal:
            # both on the terminal: print above the bar instead of through it
            self._progress.console.print(
                safe(text), markup=False, highlight=False, soft_wrap=True, style=style
            )
        else:
            say(text, style=style)


@contextmanager
def progress(
    description: str, total: float | None, *, counts: bool, every_s: float = 10.0
) -> Iterator[Bar]:
    from ._console import err

    if not err.is_terminal:
        yield Bar(None, None, every_s)
        return
    # loaded for a terminal only: a scan into a pipe or a log starts without it
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if counts else TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(
        *columns, console=err, transient=True, redirect_stdout=False, redirect_stderr=False
    ) as progress:
        yield Bar(progress, progress.add_task(description, total=total), every_s)
