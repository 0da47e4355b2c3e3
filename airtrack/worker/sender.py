"""The outbox sender: drains the worker's durable outbox to the orchestrator.

Plays and stream titles are both *fenced batches* (the orchestrator writes an item only
with the epoch that owns its stream) and go the one same way, in batches of
``outbox_batch``, plays first:

* acknowledged (stored, duplicate, extended): deleted from the outbox;
* stale (the stream moved: its epoch no longer owns it): the orchestrator kept the item
  for review (``airtrack plays refused``), so it is deleted here too, logged, and the
  stream is stopped. Nothing else of that stream is dropped unsent: what is still queued
  goes and is kept for review the same way;
* refused outright (4xx): found by resending the batch one by one and dropped, so that
  it cannot block the queue forever.  An item is dropped only when another item of the
  same batch went through on its own: when every one is refused alone, the fault is the
  request's (a rotated token, an orchestrator of another version, a proxy's answer), not
  an item's, and they all stay queued, retried with backoff like an unreachable
  orchestrator.

Fingerprint-archive segments are a third lane of the same path, sent last and in
smaller batches (``outbox_archive_batch``), and never in the way of the others: a
segment the store could not take (``unarchived``) is dropped, and an archive batch that
cannot go counts as stuck only when no play or title moved in the same round.

While the orchestrator is unreachable the sender backs off (at least as long as the
client's breaker stays open) and the rows wait in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from airtrack.errors import OrchestratorRejected, OrchestratorUnavailable, StaleEpoch
from airtrack.logging import get_logger
from airtrack.protocol import ArchiveIn, FencedKind, PlayIn, PlayResult, TitleIn
from airtrack.resilience import backoff_delay
from airtrack.settings import Settings
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.outbox import Outbox

log = get_logger(__name__)

#: Archive segments per batch: a minute of prints is ~25 kB in JSON (up to ~160 kB at the
#: bytes cap), so a batch stays under the API's request body limit.
_ARCHIVE_BATCH = 5

_ACKED = frozenset({"stored", "duplicate", "extended", "unarchived"})

Item = PlayIn | TitleIn | ArchiveIn


@dataclass
class Lane:
    """One kind of fenced batch in the outbox, and what became of its items."""

    kind: FencedKind
    #: the oldest ``n`` queued items with the revision a send must acknowledge
    fetch: Callable[[int], list[tuple[Item, int]]]
    #: delete acknowledged ``(key, rev)`` pairs (a newer revision stays queued)
    ack: Callable[[list[tuple[str, int]]], object]
    #: delete items whatever their revision
    drop: Callable[[list[str]], object]
    acked: int = 0
    stale: int = 0
    rejected: int = 0


class OutboxSender:
    """Delivers the outbox's plays and titles; ``wake`` it (on its loop) when new ones wait.

    Batch size and backoff come from ``settings`` (``outbox_*``).

    ``on_unavailable(reason)`` is told when the orchestrator cannot be reached;
    ``stop_stale_stream(stream_id, epoch)`` stops running a stream whose items came back
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
        titles = outbox.titles
        self.plays = Lane(
            "play",
            fetch=lambda n: [(q.play, q.rev) for q in outbox.batch(n)],
            ack=outbox.ack,
            drop=outbox.drop,
        )
        self.titles = Lane(
            "title",
            fetch=lambda n: [(t, 1) for t in titles.batch(n)],  # written once
            ack=lambda pairs: titles.drop(k for k, _ in pairs),
            drop=titles.drop,
        )
        archive = outbox.archive
        self.archive = Lane(
            "archive",
            fetch=lambda n: [(a, 1) for a in archive.batch(min(n, _ARCHIVE_BATCH))],
            ack=lambda pairs: archive.drop(k for k, _ in pairs),
            drop=archive.drop,
        )
        self._waiting = asyncio.Event()

    @property
    def plays_acked(self) -> int:
        return self.plays.acked

    @property
    def plays_dropped(self) -> int:
        """Plays not stored: stale (kept for review by the orchestrator) or refused."""
        return self.plays.stale + self.plays.rejected

    def wake(self) -> None:
        """New items are in the outbox (call on the sender's event loop)."""
        self._waiting.set()

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
            self._waiting.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._waiting.wait(), timeout=wait)

    async def send_round(self) -> int:
        """A batch of plays, one of titles, then one of archive segments: settled, 0 when
        none, −1 when stuck (the archive alone never makes the round stuck while plays or
        titles moved)."""
        total = 0
        for lane in (self.plays, self.titles):
            sent = await self.send_batch(lane)
            if sent < 0:
                return sent
            total += sent
        sent = await self.send_batch(self.archive)
        if sent < 0:
            return sent if total == 0 else total
        return total + sent

    async def send_batch(self, lane: Lane | None = None) -> int:
        """Send one batch of ``lane`` (plays by default): items settled, 0 when none, −1
        when it could not go."""
        lane = lane or self.plays
        batch = await asyncio.to_thread(lane.fetch, self.batch_size)
        if not batch:
            return 0
        results = await self._send(lane, [item for item, _ in batch])
        if results is None:
            return -1
        queued = {item.key: (item, rev) for item, rev in batch}
        settled: list[tuple[str, int]] = []
        stale: list[Item] = []
        for r in results:
            if r.key not in queued or r.status not in _ACKED | {"stale"}:
                continue
            item, rev = queued[r.key]
            settled.append((r.key, rev))
            if r.status == "stale":
                stale.append(item)
        if stale:  # the stream stops before its items leave the outbox
            await asyncio.to_thread(self._settle_stale, lane, stale)
        await asyncio.to_thread(lane.ack, settled)
        lane.acked += len(settled) - len(stale)
        return max(1, len(settled))

    async def _send(self, lane: Lane, items: Sequence[Item]) -> list[PlayResult] | None:
        """The results of one batch; None when the orchestrator cannot be reached."""
        try:
            return await self.client.send_fenced(lane.kind, items)
        except StaleEpoch:
            return [PlayResult(key=i.key, status="stale") for i in items]
        except OrchestratorUnavailable as exc:
            self._on_unavailable(str(exc))
            return None
        except OrchestratorRejected as exc:
            return await self._send_one_by_one(lane, items, exc)

    async def _send_one_by_one(
        self, lane: Lane, items: Sequence[Item], exc: OrchestratorRejected
    ) -> list[PlayResult] | None:
        """Find the items of a refused batch the orchestrator will never take: each is sent
        alone.  Those refused are dropped (they would block the queue forever) only when
        others went through; when none did, nothing is dropped (see the module doc)."""
        out: list[PlayResult] = []
        refused: list[tuple[Item, OrchestratorRejected]] = []
        for item in items:
            try:
                out.extend(await self.client.send_fenced(lane.kind, [item]))
            except StaleEpoch:
                out.append(PlayResult(key=item.key, status="stale"))
            except OrchestratorUnavailable as why:
                self._on_unavailable(str(why))
                return out or None
            except OrchestratorRejected as why:
                refused.append((item, why))
        if refused and not out:
            log.error(
                f"{lane.kind}_batch_refused_kept",
                items=len(items),
                status=exc.status,
                error=str(exc),
            )
            self._on_unavailable(f"every {lane.kind} refused: {exc}")
            return None
        for item, reason in refused:
            log.error(f"{lane.kind}_rejected_dropped", item=_for_log(item), error=str(reason))
            lane.rejected += 1
        if refused:
            await asyncio.to_thread(lane.drop, [item.key for item, _ in refused])
        return out

    def _settle_stale(self, lane: Lane, stale: Iterable[Item]) -> None:
        """The stream moved (stale epoch): log each item (the orchestrator keeps it for
        review) and stop running the stream."""
        newest: dict[int, int] = {}
        for item in stale:
            newest[item.stream_id] = max(item.epoch, newest.get(item.stream_id, -1))
            log.warning(f"{lane.kind}_refused_stale", item=_for_log(item))
            lane.stale += 1
        for sid, epoch in newest.items():
            self._stop_stale_stream(sid, epoch)


def _for_log(item: Item) -> dict[str, object]:
    return item.model_dump(mode="json")
