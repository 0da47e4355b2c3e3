"""The outbox sender: drains the worker's durable outbox to the orchestrator.

Plays go in batches of ``outbox_batch``. Acknowledged rows (stored, duplicate, extended)
are deleted; stale ones (the stream moved to another worker: its epoch no longer owns it)
are logged, dropped, and their stream is stopped here. A play the orchestrator refuses
outright (4xx) is found by resending the batch one by one and dropped, so that it cannot
block the queue forever. While the orchestrator is unreachable the sender backs off (at
least as long as the client's breaker stays open) and the rows wait in the outbox.
Stream titles go the same way after the plays; a stale or refused title is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from airtrack.errors import OrchestratorRejected, OrchestratorUnavailable, StaleEpoch
from airtrack.logging import get_logger
from airtrack.protocol import PlayIn, PlayResult, TitleIn
from airtrack.resilience import backoff_delay
from airtrack.settings import Settings
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.outbox import Outbox, QueuedPlay

log = get_logger(__name__)

_ACKED = frozenset({"stored", "duplicate", "extended"})


class OutboxSender:
    """Delivers the outbox's plays; ``wake`` it (on its loop) when new plays are stored.

    Batch size and backoff come from ``settings`` (``outbox_*``).

    ``on_unavailable(reason)`` is told when the orchestrator cannot be reached;
    ``stop_stale_stream(stream_id, epoch)`` stops running a stream whose plays came back
    stale (called from a worker thread, like the outbox writes).
    """

    def __init__(
        self,
        outbox: Outbox,
        client: OrchestratorClient,
        settings: Settings,
        *,
        on_unavailable: Callable[[str], None],
        stop_stale_stream: Callable[[int, int], None],
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.batch_size = settings.outbox_batch
        self.retry_cap_s = settings.outbox_retry_cap_s
        self.idle_poll_s = settings.outbox_idle_poll_s
        self._on_unavailable = on_unavailable
        self._stop_stale_stream = stop_stale_stream
        self.plays_acked = 0
        self.plays_dropped = 0
        self.titles_acked = 0
        self.titles_dropped = 0
        self._plays_waiting = asyncio.Event()

    def wake(self) -> None:
        """New plays are in the outbox (call on the sender's event loop)."""
        self._plays_waiting.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set: at once while there is more, else on a wake-up."""
        attempt = 0
        while not stop.is_set():
            sent = await self.send_round()
            if sent > 0:
                attempt = 0
                continue
            if sent < 0:
                attempt += 1
                retry = backoff_delay(attempt, cap=self.retry_cap_s)
                wait = max(self.client.breaker.retry_after(), retry)
            else:
                wait = self.idle_poll_s
            self._plays_waiting.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._plays_waiting.wait(), timeout=wait)

    async def send_round(self) -> int:
        """A batch of plays, then one of titles: settled, 0 when none, −1 when stuck."""
        sent = await self.send_batch()
        if sent < 0:
            return sent
        titles = await self.send_titles()
        return titles if titles < 0 else sent + titles

    async def send_batch(self) -> int:
        """Send one batch: number of plays settled, 0 when empty, −1 when it could not go."""
        batch = await asyncio.to_thread(self.outbox.batch, self.batch_size)
        if not batch:
            return 0
        results = await self._send(batch)
        if results is None:
            return -1
        by_key = {q.play.key: q for q in batch}
        acks: list[tuple[str, int]] = []
        stale: list[QueuedPlay] = []
        for r in results:
            q = by_key.get(r.key)
            if q is None:
                continue
            if r.status in _ACKED:
                acks.append((r.key, q.rev))
            elif r.status == "stale":
                stale.append(q)
        await asyncio.to_thread(self.outbox.ack, acks)
        self.plays_acked += len(acks)
        if stale:
            await asyncio.to_thread(self._drop_stale, stale)
        return max(1, len(acks) + len(stale))

    async def _send(self, batch: list[QueuedPlay]) -> list[PlayResult] | None:
        plays = [q.play for q in batch]
        try:
            return (await self.client.send_plays(plays)).results
        except StaleEpoch:
            return [PlayResult(key=p.key, status="stale") for p in plays]
        except OrchestratorUnavailable as exc:
            self._on_unavailable(str(exc))
            return None
        except OrchestratorRejected as exc:
            if len(plays) == 1:
                # a play the orchestrator will never take would block the queue forever
                log.error("play_rejected_dropped", play=_play_log(plays[0]), error=str(exc))
                await asyncio.to_thread(self.outbox.drop, [plays[0].key])
                self.plays_dropped += 1
                return []
            out: list[PlayResult] = []
            for q in batch:  # find the bad one: resend one by one
                res = await self._send([q])
                if res is None:
                    return out or None
                out.extend(res)
            return out

    async def send_titles(self) -> int:
        """Send one batch of titles: number settled, 0 when none, −1 when it could not go."""
        batch = await asyncio.to_thread(self.outbox.titles.batch, self.batch_size)
        if not batch:
            return 0
        settled = await self._send_titles(batch)
        if settled is None:
            return -1
        await asyncio.to_thread(self.outbox.titles.drop, settled)
        return max(1, len(settled))

    async def _send_titles(self, batch: list[TitleIn]) -> list[str] | None:
        """Keys that are settled (stored, duplicate, or dropped as stale/refused)."""
        try:
            results = (await self.client.send_titles(batch)).results
        except StaleEpoch:
            log.warning("titles_dropped_stale", count=len(batch))
            self.titles_dropped += len(batch)
            return [t.key for t in batch]
        except OrchestratorUnavailable as exc:
            self._on_unavailable(str(exc))
            return None
        except OrchestratorRejected as exc:
            if len(batch) == 1:
                log.error(
                    "title_rejected_dropped", title=batch[0].model_dump(mode="json"), error=str(exc)
                )
                self.titles_dropped += 1
                return [batch[0].key]
            out: list[str] = []
            for t in batch:  # find the bad one: resend one by one
                res = await self._send_titles([t])
                if res is None:
                    return out or None
                out.extend(res)
            return out
        stale = [r.key for r in results if r.status == "stale"]
        if stale:
            log.warning("titles_dropped_stale", count=len(stale))
        self.titles_acked += len(results) - len(stale)
        self.titles_dropped += len(stale)
        return [r.key for r in results]

    def _drop_stale(self, stale: list[QueuedPlay]) -> None:
        """The stream moved (stale epoch): log and drop its plays, stop running it."""
        newest: dict[int, int] = {}
        for q in stale:
            newest[q.play.stream_id] = max(q.play.epoch, newest.get(q.play.stream_id, -1))
        dropped = self.outbox.drop(q.play.key for q in stale)
        for sid, epoch in newest.items():
            dropped += self.outbox.drop_stream(sid, epoch)
            self._stop_stale_stream(sid, epoch)
        for play in dropped:
            log.warning("play_dropped_stale", play=_play_log(play))
        self.plays_dropped += len(dropped)


def _play_log(p: PlayIn) -> dict[str, object]:
    return p.model_dump(mode="json")
