"""The new-event signal: a waiter cancelled at any moment never affects the others.

Webhook delivery and every SSE client wait on one :class:`EventSignal`. A client that
disconnects cancels its waiter at a random moment, often just as the waiter's own
timeout fires; no such cancel may leave the signal unable to wake anyone.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.db.listener import EventSignal

#: Bound on each step of the checks: a wedged signal fails the test, never hangs it.
BOUND_S = 5.0


def run_bounded(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` on a fresh loop; afterwards cancel what is left, waiting boundedly.

    ``asyncio.run`` would wait for ever on a task that cannot finish (a waiter stuck
    re-acquiring a lock nobody will release): that is the failure to report, not hang on.
    """
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(coro, 60))
    finally:
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        if left:
            _, stuck = loop.run_until_complete(asyncio.wait(left, timeout=BOUND_S))
            assert not stuck, f"{len(stuck)} tasks cannot finish even when cancelled"
        loop.close()


async def _storm(seed: int, waiters: int, poll_s: float) -> None:
    rng = random.Random(seed)
    signal = EventSignal(poll_s)
    tasks: list[asyncio.Task[None]] = []

    async def waiter(dropped: list[bool]) -> None:
        # Like an SSE client: wait, read, wait again. It stops once dropped, so a cancel
        # the signal swallowed shows as a waiter that ended without being cancelled.
        while not dropped:
            seen = signal.generation if rng.random() < 0.5 else None
            await signal.wait(rng.choice([None, poll_s / 2, 0.0]), seen=seen)

    def drop(task: asyncio.Task[None], dropped: list[bool]) -> None:
        dropped.append(True)
        task.cancel()

    loop = asyncio.get_running_loop()
    for _ in range(waiters):
        flag: list[bool] = []
        tasks.append(task := asyncio.create_task(waiter(flag)))
        # cancels land around the waiters' timeouts, and between them
        loop.call_later(rng.uniform(0, 4 * poll_s), drop, task, flag)

    async def fire_later(delay: float) -> None:
        await asyncio.sleep(delay)
        await signal.fire()

    fires = [
        asyncio.create_task(fire_later(rng.uniform(0, 4 * poll_s)))
        for _ in range(rng.randint(0, 10))
    ]
    done, pending = await asyncio.wait(tasks, timeout=BOUND_S + 8 * poll_s)
    assert not pending, f"{len(pending)} cancelled waiters never finished"
    if fires:
        _, stuck = await asyncio.wait(fires, timeout=BOUND_S)
        for task in stuck:
            task.cancel()
        assert not stuck, "a notify could not get through"
    assert all(t.cancelled() for t in done), "a cancel was swallowed"

    # A fresh waiter is still woken by the next notify (its own timeout is far away).
    seen = signal.generation
    fresh = asyncio.create_task(signal.wait(3600.0))
    await asyncio.sleep(0)
    await asyncio.wait_for(signal.fire(), BOUND_S)
    await asyncio.wait_for(fresh, BOUND_S)
    assert signal.generation == seen + 1
    # And a waiter that noted an older generation returns at once.
    await asyncio.wait_for(signal.wait(3600.0, seen=seen), BOUND_S)
    assert signal.waiting() == 0, "nothing is left registered on the signal"


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), waiters=st.integers(1, 300))
def test_cancelled_waiters_never_stop_the_signal(seed: int, waiters: int) -> None:
    run_bounded(_storm(seed, waiters, poll_s=0.002))


def test_many_waiters_cancelled_exactly_at_their_timeout() -> None:
    """The worst moment: the cancel and the waiter's timeout in one loop iteration."""

    async def go() -> None:
        for round_ in range(20):
            signal = EventSignal(0.001)
            tasks = [asyncio.create_task(signal.wait()) for _ in range(200)]
            await asyncio.sleep(0.001 * (round_ % 3))
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks, timeout=BOUND_S)
            fresh = asyncio.create_task(signal.wait(3600.0))
            await asyncio.sleep(0)
            await asyncio.wait_for(signal.fire(), BOUND_S)
            await asyncio.wait_for(fresh, BOUND_S)
            assert signal.waiting() == 0

    run_bounded(go())
