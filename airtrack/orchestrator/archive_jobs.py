"""The leader's archive jobs: day partitions and retention, clips' retention, and
back-fill of new tracks.

A task of its own beside the control loop (a back-fill pass may take seconds to minutes;
the control tick must not wait on it). It acts only while this replica leads; each round
(``archive_job_s``) keeps today's and tomorrow's partitions and drops those past
``archive_days`` (at most every ``_MAINTAIN_S``), expires clip requests and drops clips
past ``clip_days`` (:func:`airtrack.orchestrator.clips.maintain`), then runs one bounded
back-fill pass over the tracks added since (:class:`airtrack.orchestrator.backfill.BackfillJob`).
Failures are logged and the next round tries again: neither job can stop the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from airtrack.db import Database
from airtrack.errors import DatabaseError
from airtrack.logging import get_logger
from airtrack.orchestrator import archive, backfill, clips
from airtrack.settings import Settings

log = get_logger(__name__)

#: Partitions are checked this often (a day's partition is made a day ahead).
_MAINTAIN_S = 600.0


class ArchiveJobs:
    def __init__(self, db: Database, settings: Settings, leads: Callable[[], bool]) -> None:
        self.db = db
        self.settings = settings
        self.leads = leads
        self._maintained_at = float("-inf")
        self.backfill = backfill.BackfillJob(db, settings)
        self.rounds = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.leads():
                await self.round()
            else:
                self.backfill.forget()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.archive_job_s)

    async def round(self) -> None:
        try:
            if time.monotonic() - self._maintained_at >= _MAINTAIN_S:
                await archive.maintain(self.db, self.settings)
                self._maintained_at = time.monotonic()
            await clips.maintain(self.db, self.settings)
            await self.backfill.step()
        except DatabaseError as exc:
            log.warning("archive.job_failed", error=str(exc))
        except Exception:
            log.exception("archive.job_crashed")
        self.rounds += 1
