"""What every CLI command shares: settings from flags, one-line errors, async running."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from airtrack.errors import AirtrackError, ConfigError
from airtrack.logging import configure_logging
from airtrack.settings import Settings, load_settings

P = ParamSpec("P")
T = TypeVar("T")

out = Console()
err = Console(stderr=True)

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_NOT_AVAILABLE = 3


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print one line on stderr and exit."""
    err.print(f"airtrack: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings_from(**flags: Any) -> Settings:
    """Settings from flags (None = unset) over the environment; configure logging."""
    try:
        settings = load_settings(**flags)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    configure_logging(settings.log_level, settings.log_json)
    return settings


def run_async(coro: Coroutine[Any, Any, T]) -> T:
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
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    return wrapper


async def with_db(
    settings: Settings, fn: Callable[[Any], Awaitable[T]], *, create: bool = True
) -> T:
    """Run ``fn(db)`` on a small connection pool opened (and migrated) for one CLI command.

    ``create=False`` (commands that only read) refuses to start a new, empty embedded
    database: on a machine without one the answer would be silently empty.
    """
    from airtrack.db import connect

    from .remote import is_remote

    if is_remote():
        # Never start or create an embedded database on an operator's laptop.
        raise AirtrackError(
            "this command needs the database and is not available over the API yet; "
            "run it on the orchestrator's machine, or force the database with "
            "`airtrack --local …`"
        )
    if not create and not settings.database_url and not (settings.pg_dir / "PG_VERSION").exists():
        raise AirtrackError(
            f"no airtrack database here ({settings.pg_dir} does not exist): run this on the "
            "orchestrator's machine with the same AIRTRACK_HOME, or set AIRTRACK_DATABASE_URL"
        )

    db = await connect(settings, min_size=0, max_size=2, app_name="airtrack-cli")
    try:
        return await fn(db)
    finally:
        await db.close()


def not_available(what: str, issue: str) -> NoReturn:
    fail(f"{what} is not available yet in this build ({issue}).", EXIT_NOT_AVAILABLE)


def is_tty() -> bool:
    return sys.stdout.isatty()


AsyncFn = Callable[..., Awaitable[Any]]
