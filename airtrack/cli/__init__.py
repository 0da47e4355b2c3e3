"""The ``airtrack`` command (docs/architecture.md#contracts).

:func:`main` runs the Typer application (:mod:`airtrack.cli.commands`), except for a plain
``scan``/``identify`` line, which it runs itself: this module imports neither Typer nor
rich, and a scan of a current scan card into a pipe or as JSON never loads them.
"""

from __future__ import annotations

import sys

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


def direct_call(argv: list[str]) -> tuple[str, list[str], bool] | None:
    """``(command, paths, as_json)`` when ``argv`` is a plain ``scan``/``identify`` line.

    Typer (0.29) builds a pydantic ``TypeAdapter`` for every parameter it parses, and
    Typer and rich take about as long to import as numpy: together more than the rest of
    a short clip's scan.  A line made only of the command, its paths and ``--json`` means
    one thing, so :func:`main` calls the command itself; anything else (another option,
    ``-``, ``--``, ``--help``, a wrong count of paths) goes through Typer, which words the
    errors.  ``tests/unit/test_cli_direct.py`` checks that Typer reads these lines alike.
    """
    if not argv or argv[0] not in ("scan", "identify"):
        return None
    words = argv[1:]
    paths = [w for w in words if w != "--json"]
    if any(p.startswith("-") or not p for p in paths):
        return None
    if not paths or (argv[0] == "identify" and len(paths) != 1):
        return None
    return argv[0], paths, len(paths) != len(words)


def _fail(message: str, code: int) -> None:
    """What the Typer commands' ``handle_errors`` prints for an error: one line, on stderr."""
    sys.stderr.write(f"airtrack: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


def main() -> None:
    line = direct_call(sys.argv[1:])
    if line is None:
        from .commands import app

        app()
        return
    from airtrack.errors import AirtrackError, ConfigError, first_line

    from . import scanning

    command, paths, as_json = line
    try:  # what the Typer commands do for these lines (catalog_commands.scan, .identify)
        if command == "scan":
            scanning.scan(paths, as_json)
        else:
            scanning.identify(paths[0], as_json)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
    except AirtrackError as exc:
        _fail(first_line(exc), EXIT_ERROR)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
