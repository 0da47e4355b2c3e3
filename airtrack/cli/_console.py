"""The rich consoles of every command's answer (stdout) and messages (stderr), and tables.

Apart from :mod:`airtrack.cli._common` so that ``scan`` prints its table without loading
Typer.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

__all__ = ["UNBOUNDED_WIDTH", "err", "out", "print_table"]

#: Width of a console whose stdout is not a terminal: no line is ever cut to fit.
UNBOUNDED_WIDTH = 100_000


def _stdout_console() -> Console:
    """The console for a command's answer.

    On a terminal, rich fits it to the window. Through a pipe or into a file there is no
    window: lines are as long as their content, never cut (``AIRTRACK_INACTIVE_AFTE…``)
    nor wrapped at 80 columns, so ``grep``, ``cut`` and scripts see whole values.
    """
    console = Console()
    if console.is_terminal:
        return console
    return Console(width=UNBOUNDED_WIDTH, soft_wrap=True)


out = _stdout_console()
err = Console(stderr=True)


def print_table(table: Table) -> None:
    """Print ``table`` at its natural width, never cutting a cell to fit the terminal.

    URLs, names and times are copied from these tables: a terminal wraps a long line
    without breaking it, while a table squeezed to 80 columns turns a URL into
    ``http://127.0.0.1:…``.
    """
    natural = Console(width=UNBOUNDED_WIDTH).measure(table).maximum
    wide = Console(
        file=sys.stdout,
        width=max(out.width, natural) if out.is_terminal else natural,
        force_terminal=out.is_terminal,
        no_color=out.no_color,
    )
    wide.print(table)
