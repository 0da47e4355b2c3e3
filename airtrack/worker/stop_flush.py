"""The worker's last delivery on stop, and its account of what stays queued.

A worker stopped while its breaker to the orchestrator is open (the orchestrator
unreachable a moment ago) would otherwise leave without trying: the orchestrator
may be back already. So the outbox gets one more try: through an open breaker
(one probe), within ``worker_stop_flush_s``. What stays queued is said in the log
with the outbox's path; the next start of the same worker sends it.
"""

from __future__ import annotations

import asyncio
import time

from airtrack.logging import get_logger
from airtrack.settings import Settings
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.outbox import Outbox
from airtrack.worker.sender import OutboxSender

log = get_logger(__name__)


async def flush_on_stop(
    sender: OutboxSender, client: OrchestratorClient, settings: Settings, deadline: float
) -> int:
    """Send what the outbox holds until it is empty, the orchestrator fails, or time is up.

    ``deadline`` is the end of the whole stop budget (one second of it is left for the
    deregister). With the breaker open the try is a probe bounded by
    ``worker_stop_flush_s``. Returns the number of plays and titles settled.
    """
    end = deadline - 1.0
    if not client.available:
        end = min(end, time.monotonic() + settings.worker_stop_flush_s)
        client.breaker.probe_now()
    flushed = 0
    while (left := end - time.monotonic()) > 0:
        try:
            n = await asyncio.wait_for(sender.send_round(), left)
        except TimeoutError:
            break
        if n <= 0:
            break
        flushed += n
    return flushed


def queued_at_stop(outbox: Outbox) -> dict[str, object]:
    """What stays in the outbox: counts, plays per stream and where the file is."""
    try:
        per_stream = outbox.count_by_stream()
        titles = len(outbox.titles)
    except Exception as exc:  # a broken outbox must not hide the stop itself
        return {"outbox": str(outbox.path), "error": str(exc)}
    return {
        "plays": sum(per_stream.values()),
        "titles": titles,
        "plays_by_stream": per_stream,
        "outbox": str(outbox.path),
    }


def log_queued(queued: dict[str, object]) -> None:
    """Warn when plays or titles stay behind: how many, and the file that holds them."""
    if queued.get("plays") or queued.get("titles") or "error" in queued:
        log.warning("outbox_left_queued", **queued)
