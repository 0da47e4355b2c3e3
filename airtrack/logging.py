"""Structured logging: one event name plus fields; JSON when stderr is not a terminal."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from airtrack.redact import mask_credentials

_configured = False


def _mask_urls(_logger: Any, _method: str, event: Any) -> Any:
    # No log line carries a URL's password (stream URLs, the database URL, errors that
    # quote them): every text field is masked (airtrack.redact).
    for key, value in event.items():
        if isinstance(value, str) and "@" in value:
            event[key] = mask_credentials(value)
    return event


def configure_logging(
    level: str = "INFO", json: bool | None = None, *, quiet: frozenset[str] = frozenset()
) -> None:
    """Configure structlog and the stdlib root logger once per process.

    ``quiet``: event names not to print (a command whose one error line says it all).
    """
    global _configured
    if json is None:
        json = not sys.stderr.isatty()

    def drop_quiet(_logger: Any, _method: str, event: Any) -> Any:
        if event.get("event") in quiet:
            raise structlog.DropEvent
        return event

    processors: list[Any] = [
        drop_quiet,
        _mask_urls,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    for noisy in ("pgserver", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
    _configured = True


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
