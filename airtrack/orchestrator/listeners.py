"""Listener figures: the leader polls each stream's ``stats_url`` and keeps the samples.

The orchestrator's leader does it, not the workers: workers are the least trusted part
(docs/security.md) and a listener count decides royalties. Each round:

* reads the streams that have a stats URL;
* fetches every one at once, each under one total deadline
  (``listeners_timeout_s``: connect, headers and body) and a body cap
  (``listeners_max_bytes``, checked while reading), no redirects followed (a redirect
  could lead past the URL policy), the URL policy checked again (settings may have
  changed since the URL was set): a down, slow, huge or malformed endpoint costs one
  bounded request and never delays another stream's poll;
* stores one sample per answering stream, sets ``airtrack_stream_listeners`` (a stream
  without a figure this round has no series: a stale count would read as a live one);
* logs each stream's state only when it changes (``listeners.ok`` /
  ``listeners.failed`` with the kind: refused, unreachable, timeout, http_status,
  too_large, malformed);
* deletes samples past ``listeners_retention_days``, a batch at a time.

The control tick calls :meth:`ListenerPoller.kick`, which starts a round in the
background when one is due and none is running, so a round never holds up the tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import httpx

from airtrack.db import Database
from airtrack.errors import DatabaseError, ListenerStatsError, first_line
from airtrack.logging import get_logger
from airtrack.metrics import STREAM_LISTENERS
from airtrack.redact import MASK, SECRET_PARAMS, redact_url
from airtrack.settings import Settings

from .listener_stats import parse_listeners
from .streams import url_refusal

log = get_logger("airtrack.orchestrator.listeners")

_PRUNE_BATCH = 10_000
_USER_AGENT = "airtrack-listeners/1"


@dataclass(frozen=True)
class Target:
    id: int
    name: str
    urls: tuple[str, ...]  # the stream's URL, then its backups
    stats_url: str


@dataclass(frozen=True)
class Outcome:
    target: Target
    at: datetime
    listeners: int | None
    kind: str  # "ok" or the failure's kind
    error: str = ""


async def fetch_listeners(client: httpx.AsyncClient, target: Target, settings: Settings) -> Outcome:
    """One bounded request to ``target``'s stats URL; never raises."""
    try:
        async with asyncio.timeout(settings.listeners_timeout_s):
            count = await _read(client, target, settings)
    except ListenerStatsError as exc:
        return Outcome(target, datetime.now(UTC), None, exc.kind, str(exc))
    except TimeoutError:
        why = f"no complete answer within {settings.listeners_timeout_s:g} s"
        return Outcome(target, datetime.now(UTC), None, "timeout", why)
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        why = _scrub(first_line(exc) or type(exc).__name__, target.stats_url)
        return Outcome(target, datetime.now(UTC), None, "unreachable", why)
    return Outcome(target, datetime.now(UTC), count, "ok")


def _scrub(text: str, url: str) -> str:
    """``text`` without ``url``'s secrets (an error message may quote the URL)."""
    text = text.replace(url, redact_url(url) or "")
    try:
        parts = urlsplit(url)
        secrets = [parts.password or ""]
        secrets += [v for k, v in parse_qsl(parts.query) if k.lower() in SECRET_PARAMS]
    except ValueError:
        secrets = []
    for secret in filter(None, secrets):
        text = text.replace(secret, MASK)
    return text


async def _read(client: httpx.AsyncClient, target: Target, settings: Settings) -> int:
    why = url_refusal(urlsplit(target.stats_url).hostname or "", settings)
    if why is not None:
        raise ListenerStatsError("refused", f"stats URL refused: {why}")
    cap = settings.listeners_max_bytes
    async with client.stream("GET", target.stats_url) as resp:
        if resp.status_code != 200:
            raise ListenerStatsError("http_status", f"HTTP {resp.status_code}")
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ListenerStatsError("too_large", f"{declared} bytes (cap {cap})")
        body = bytearray()
        async for chunk in resp.aiter_raw():
            body += chunk
            if len(body) > cap:
                raise ListenerStatsError("too_large", f"more than {cap} bytes")
    return parse_listeners(bytes(body), target.urls)


class ListenerPoller:
    """Rounds of stats polls, started by the leader's tick (see the module docstring)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.rounds = 0
        self.last: list[Outcome] = []
        self._task: asyncio.Task[None] | None = None
        self._due = float("-inf")
        self._states: dict[int, str] = {}
        self._gauged: set[str] = set()

    def kick(self) -> None:
        """Start a round in the background when one is due and none is running."""
        if self._task is not None and not self._task.done():
            return
        now = time.monotonic()
        if now < self._due:
            return
        self._due = now + self.settings.listeners_poll_s
        self._task = asyncio.create_task(self._guarded(), name="listeners-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _guarded(self) -> None:
        try:
            await self.poll()
        except DatabaseError as exc:
            log.warning("listeners.round_failed", error=first_line(exc), sqlstate=exc.sqlstate)
        except Exception:
            log.exception("listeners.round_crashed")

    async def poll(self) -> list[Outcome]:
        """One round over every stream with a stats URL; returns each stream's outcome."""
        rows = await self.db.fetch("listeners_targets")
        targets = [
            Target(
                int(r["id"]),
                str(r["name"]),
                (str(r["url"]), *(str(u) for u in r["backup_urls"] or [])),
                str(r["stats_url"]),
            )
            for r in rows
        ]
        outcomes: list[Outcome] = []
        if targets:
            # No pool limit: with a limit, one slow endpoint's connection could make
            # another stream's request wait for a free slot.
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
            timeout = httpx.Timeout(self.settings.listeners_timeout_s)
            async with httpx.AsyncClient(
                follow_redirects=False,
                limits=limits,
                timeout=timeout,
                headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"},
                trust_env=False,
            ) as client:
                outcomes = list(
                    await asyncio.gather(
                        *(fetch_listeners(client, t, self.settings) for t in targets)
                    )
                )
        await self._record(outcomes)
        await self.db.execute(
            "listeners_prune",
            {"days": self.settings.listeners_retention_days, "limit": _PRUNE_BATCH},
        )
        self.rounds += 1
        self.last = outcomes
        return outcomes

    async def _record(self, outcomes: Sequence[Outcome]) -> None:
        good = [o for o in outcomes if o.listeners is not None]
        if good:
            await self.db.execute(
                "listeners_insert",
                {
                    "ids": [o.target.id for o in good],
                    "ats": [o.at for o in good],
                    "counts": [o.listeners for o in good],
                },
            )
        gauged = set()
        for o in outcomes:
            if o.listeners is not None:
                STREAM_LISTENERS.labels(o.target.name).set(o.listeners)
                gauged.add(o.target.name)
            self._log_change(o)
        for name in self._gauged - gauged:
            with contextlib.suppress(KeyError):
                STREAM_LISTENERS.remove(name)
        self._gauged = gauged
        polled = {o.target.id for o in outcomes}
        for sid in set(self._states) - polled:
            del self._states[sid]  # stats URL removed: a new one starts a fresh state

    def _log_change(self, o: Outcome) -> None:
        before = self._states.get(o.target.id)
        self._states[o.target.id] = o.kind
        if before == o.kind:
            return
        where = redact_url(o.target.stats_url)
        if o.kind == "ok":
            log.info("listeners.ok", stream=o.target.name, listeners=o.listeners, url=where)
        else:
            log.warning(
                "listeners.failed",
                stream=o.target.name,
                kind=o.kind,
                error=o.error,
                url=where,
                before=before,
            )
