"""What every CLI command shares: settings from flags, one-line errors, async running."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar
from urllib.parse import urlsplit

import typer

from airtrack.errors import AirtrackError, ConfigError, DatabaseUnavailable, first_line

# the consoles, where every command has always imported them from
from ._console import err as err
from ._console import out as out
from ._console import print_table as print_table

if TYPE_CHECKING:
    # loaded when a command asks for its settings: ``scan`` on a current card never does
    from airtrack.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")

#: The `--json` flag of every command that can print JSON.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_NOT_AVAILABLE = 3


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print one line on stderr and exit."""
    err.print(f"airtrack: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


class Display:
    """Options of the whole command line (``airtrack -v --utc …``)."""

    verbose: int = 0
    utc: bool = False


def log_level(*, service: bool = False) -> str | None:
    """The log level for this command, unless AIRTRACK_LOG_LEVEL says one.

    A command prints what a person needs; its logs are warnings only, ``-v`` adds info and
    ``-vv`` debug. The services (orchestrator, worker) log info by default: that is their
    output.
    """
    if os.environ.get("AIRTRACK_LOG_LEVEL"):
        return None
    if service:
        return "DEBUG" if Display.verbose else "INFO"
    return ("WARNING", "INFO", "DEBUG")[min(Display.verbose, 2)]


def settings_from(*, service: bool = False, **flags: Any) -> Settings:
    """Settings from flags (None = unset) over the environment; configure logging."""
    from airtrack.logging import configure_logging
    from airtrack.settings import load_settings

    if flags.get("log_level") is None:
        flags["log_level"] = log_level(service=service)
    try:
        settings = load_settings(**flags)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    json = settings.log_json
    if not service and "AIRTRACK_LOG_JSON" not in os.environ:
        json = False  # a person reads a command's warnings; JSON is for the services' logs
    # A command's database trouble ends in one line naming the database (with_db); the
    # retries before it are the services' business (and -v's).
    quiet = frozenset() if service or Display.verbose else frozenset({"db.failure"})
    configure_logging(settings.log_level, json, quiet=quiet)
    if not service and not Display.verbose:
        # The pool's own retry chatter says nothing the one error line will not.
        import logging

        logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    return settings


def database_place(settings: Settings) -> str:
    """Where the database is, without credentials: ``host:port/db`` or the embedded home."""
    if not settings.database_url:
        return f"the embedded PostgreSQL in {settings.pg_dir}"
    url = urlsplit(settings.database_url)
    host = url.hostname or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{host}{port}{url.path or ''}"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio

    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def handle_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Turn airtrack errors into one-line messages and exit codes."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc), EXIT_CONFIG)
        except AirtrackError as exc:
            fail(first_line(exc))

    return wrapper


#: Command groups of ``airtrack`` (their subcommand is part of a command's name).
GROUPS = frozenset({"catalog", "report", "streams", "db", "tokens", "webhooks"})


def command_name(argv: list[str] | None = None) -> str:
    """The running command as typed after ``airtrack`` (``db migrate``, ``webhooks list``)."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    if not words:
        return "this command"
    return " ".join(words[:2]) if words[0] in GROUPS and len(words) > 1 else words[0]


def refuse_without_database(settings: Settings) -> None:
    """Refuse, naming the command, to create or start an embedded database on a machine set
    up for the API only (``AIRTRACK_ORCHESTRATOR_URL`` and ``AIRTRACK_ADMIN_TOKEN``, no
    ``AIRTRACK_DATABASE_URL``): an empty local database would answer silently wrong.

    ``airtrack --local`` there may use an embedded database that already exists in
    ``AIRTRACK_HOME`` (the orchestrator's own machine), never make one.
    """
    from .remote import is_remote, remote_variables_set

    if settings.database_url or not remote_variables_set():
        return
    name = command_name()
    if is_remote():
        raise AirtrackError(
            f"`airtrack {name}` is not available over the API (docs/reports.md#remote): run "
            "it on the orchestrator's machine, where the database is"
        )
    if not (settings.pg_dir / "PG_VERSION").exists():
        raise AirtrackError(
            f"`airtrack --local {name}`: this machine has no airtrack database "
            f"(AIRTRACK_DATABASE_URL is unset and {settings.pg_dir} holds none) and --local "
            "never creates one; set AIRTRACK_DATABASE_URL, or leave out --local to use the API"
        )


async def with_db(
    settings: Settings,
    fn: Callable[[Any], Awaitable[T]],
    *,
    create: bool = True,
    migrate: bool = True,
) -> T:
    """Run ``fn(db)`` on a small connection pool opened (and migrated) for one CLI command.

    ``create=False`` (commands that only read) refuses to start a new, empty embedded
    database: on a machine without one the answer would be silently empty.
    ``migrate=False`` leaves the schema as found (a check of a restored database).
    """
    from airtrack.db import connect

    refuse_without_database(settings)
    if not create and not settings.database_url and not (settings.pg_dir / "PG_VERSION").exists():
        raise AirtrackError(
            f"no airtrack database here ({settings.pg_dir} does not exist): run this on the "
            "orchestrator's machine with the same AIRTRACK_HOME, or set AIRTRACK_DATABASE_URL"
        )

    # One attempt: a person at a prompt wants the answer (or why not) now, not after retries.
    quick = settings.model_copy(update={"db_reconnect_attempts": 1, "db_retry_attempts": 1})
    try:
        db = await connect(
            quick, run_migrations=migrate, min_size=0, max_size=2, app_name="airtrack-cli"
        )
    except DatabaseUnavailable as exc:
        raise DatabaseUnavailable(
            f"cannot reach the database at {database_place(settings)}: "
            f"{first_line(exc)} "
            "(check AIRTRACK_DATABASE_URL, or that the server is running)"
        ) from exc
    try:
        return await fn(db)
    finally:
        await db.close()


def not_available(what: str, issue: str) -> NoReturn:
    fail(f"{what} is not available yet in this build ({issue}).", EXIT_NOT_AVAILABLE)


def is_tty() -> bool:
    return sys.stdout.isatty()


AsyncFn = Callable[..., Awaitable[Any]]


def show_value(value: Any, *, sep: str = "; ") -> str:
    """A field's value as a change listing shows it: "–" for nothing, lists joined by ``sep``."""
    if value is None or value == [] or value == {}:
        return "–"
    if isinstance(value, list):
        return sep.join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return str(value)


def read_import_file(path: Path, settings: Settings) -> bytes:
    """An operator's file to import, refused (exit 1) when larger than ``import_max_bytes``
    or unreadable."""
    try:
        size = path.stat().st_size
        if size > settings.import_max_bytes:
            # refuse before reading: a 100 MB file must not be loaded to be refused
            fail(
                f"{path}: the file is {size:,} bytes; the limit is "
                f"{settings.import_max_bytes:,} (AIRTRACK_IMPORT_MAX_BYTES): split it"
            )
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
