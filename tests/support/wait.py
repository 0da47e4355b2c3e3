"""Wait on something observable, with a bounded deadline (never sleep-then-assert)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any


def until(cond: Callable[[], Any], within: float, what: str, step: float = 0.1) -> Any:
    """Call ``cond`` until it returns something truthy and return that; fail after
    ``within`` seconds naming ``what``. ``cond`` is called once more at the deadline."""
    end = time.monotonic() + within
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {within:g} s waiting for: {what}")
        time.sleep(step)


async def until_async(
    cond: Callable[[], Any | Awaitable[Any]], within: float, what: str, step: float = 0.05
) -> Any:
    """:func:`until` for a running event loop: ``cond`` may be sync or a coroutine function;
    the loop keeps running between calls."""
    end = time.monotonic() + within
    while True:
        value = cond()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {within:g} s waiting for: {what}")
        await asyncio.sleep(step)
