"""The worker's one HTTP client to the orchestrator (docs/architecture.md#contracts).

Every call has finite timeouts (R5.3), is retried with exponential backoff and
jitter when the failure is the network's or the server's (all worker calls are
idempotent: register by worker id, plays by key), and goes through a circuit
breaker (R5.4) so a dead orchestrator is not hammered: while the breaker is
open calls fail at once with :class:`OrchestratorUnavailable`, and one probe
is let through after ``breaker_open_s``. Register and heartbeat are probes
themselves (one per heartbeat tick): the worker's lease runs while the breaker
is open, so it must be heard again as soon as the orchestrator is back.

Errors raised::

    OrchestratorUnavailable   network error, timeout, 5xx after retries, breaker open
    WorkerNotRegistered       404 on heartbeat: the orchestrator forgot us → re-register
    StaleEpoch                409: every item of a fenced batch carried a stale epoch
    OrchestratorRejected      any other 4xx (bad token, invalid body): not retried
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from airtrack.errors import (
    OrchestratorRejected,
    OrchestratorUnavailable,
    SnapshotCorrupt,
    StaleEpoch,
    WorkerNotRegistered,
)
from airtrack.logging import get_logger
from airtrack.protocol import (
    ALL_STALE,
    ARCHIVE_PATH,
    CLIPS_PATH,
    CREDENTIAL_HEADER,
    DEREGISTER_PATH,
    HEARTBEAT_PATH,
    MANIFEST_PATH,
    METADATA_PATH,
    PLAYS_PATH,
    REGISTER_PATH,
    SEGMENT_PATH,
    SEGMENTS_HEADER,
    SNAPSHOT_PATH,
    SNAPSHOT_SHA256_HEADER,
    UNKNOWN_WORKER,
    WRONG_CREDENTIAL,
    ArchiveIn,
    ArchiveRequest,
    ClipIn,
    ClipsRequest,
    FencedItem,
    FencedKind,
    HeartbeatRequest,
    HeartbeatResponse,
    PlayIn,
    PlayResult,
    PlaysRequest,
    PlaysResponse,
    RegisterRequest,
    RegisterResponse,
    TitleIn,
    TitlesRequest,
    TitlesResponse,
)
from airtrack.resilience import BreakerState, CircuitBreaker, backoff_delay
from airtrack.settings import Settings

log = get_logger(__name__)

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Snapshot:
    """A catalog index snapshot as served by ``GET /catalog/snapshot``."""

    version: str
    etag: str
    data: bytes


#: The settings' defaults (no environment): the one source of the client's default numbers.
_DEFAULTS = Settings.model_construct()


def http_timeouts(settings: Settings) -> httpx.Timeout:
    """The worker's timeouts per phase (connect/read/write/pool); unset ones: HTTP_TIMEOUT_S."""

    def phase(value: float | None) -> float:
        return settings.http_timeout_s if value is None else value

    return httpx.Timeout(
        connect=phase(settings.worker_connect_timeout_s),
        read=phase(settings.worker_read_timeout_s),
        write=phase(settings.worker_write_timeout_s),
        pool=phase(settings.worker_pool_timeout_s),
    )


def etag_version(etag: str) -> str:
    """The version inside an ETag header value (``W/"v12"`` → ``v12``)."""
    return etag.strip().removeprefix("W/").strip('"')


class OrchestratorClient:
    """Typed, resilient access to the worker endpoints of the orchestrator API."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout_s: float | httpx.Timeout = http_timeouts(_DEFAULTS),
        retries: int = _DEFAULTS.worker_call_attempts,
        retry_base_s: float = _DEFAULTS.worker_retry_base_s,
        retry_cap_s: float = _DEFAULTS.worker_retry_cap_s,
        breaker_failures: int = _DEFAULTS.breaker_failures,
        breaker_open_s: float = _DEFAULTS.breaker_open_s,
        transport: httpx.AsyncBaseTransport | None = None,
        worker_id: str | None = None,
        credential: str | None = None,
    ) -> None:
        """``timeout_s``: one number for every phase, or an :class:`httpx.Timeout`."""
        #: The worker this client speaks for (plays carry it); learnt at register if unset.
        self.worker_id = worker_id
        headers = {"User-Agent": "airtrack-worker"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if credential:
            headers[CREDENTIAL_HEADER] = credential
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=timeout_s if isinstance(timeout_s, httpx.Timeout) else httpx.Timeout(timeout_s),
            transport=transport,
        )
        self.retries = max(1, retries)
        self.retry_base_s = retry_base_s
        self.retry_cap_s = retry_cap_s
        self.breaker = CircuitBreaker(
            "orchestrator",
            failures=breaker_failures,
            open_s=breaker_open_s,
            on_change=_log_breaker,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, token: str | None = None, **kw: Any
    ) -> OrchestratorClient:
        """The client as settings say (``token`` defaults to ``settings.worker_token``)."""
        return cls(
            settings.orchestrator_url,
            token if token is not None else settings.worker_token,
            timeout_s=http_timeouts(settings),
            retries=settings.worker_call_attempts,
            retry_base_s=settings.worker_retry_base_s,
            retry_cap_s=settings.worker_retry_cap_s,
            breaker_failures=settings.breaker_failures,
            breaker_open_s=settings.worker_breaker_open,
            **kw,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def available(self) -> bool:
        """False while the breaker is open (the orchestrator is considered down)."""
        return self.breaker.state is not BreakerState.OPEN

    # --- typed calls ------------------------------------------------------

    async def register(self, req: RegisterRequest) -> RegisterResponse:
        self.worker_id = self.worker_id or req.worker_id
        resp = await self._call("POST", REGISTER_PATH, json=_dump(req), probe=True)
        return _parse(RegisterResponse, resp)

    async def heartbeat(self, worker_id: str, req: HeartbeatRequest) -> HeartbeatResponse:
        resp = await self._call(
            "POST",
            HEARTBEAT_PATH.format(worker_id=worker_id),
            json=_dump(req),
            not_found_ok=True,
            probe=True,
        )
        if resp.status_code == UNKNOWN_WORKER:
            raise WorkerNotRegistered(f"orchestrator does not know worker {worker_id!r}")
        return _parse(HeartbeatResponse, resp)

    async def deregister(self, worker_id: str, *, retries: int | None = None) -> None:
        await self._call(
            "POST", DEREGISTER_PATH.format(worker_id=worker_id), not_found_ok=True, retries=retries
        )

    async def send_fenced(self, kind: FencedKind, items: Sequence[FencedItem]) -> list[PlayResult]:
        """Send one fenced batch (plays, stream titles, archive segments or proof clips),
        one result per item.

        409 (every item stale) raises :class:`StaleEpoch`. A wrong credential keeps the
        items queued (never dropped) until an operator sorts the id out: it is raised as
        :class:`OrchestratorUnavailable`.
        """
        if self.worker_id is None:
            raise ValueError(f"sending {kind}s needs the worker id (pass worker_id= or register)")
        request: BaseModel
        if kind == "play":
            plays = [i for i in items if isinstance(i, PlayIn)]
            request, path = PlaysRequest(worker_id=self.worker_id, plays=plays), PLAYS_PATH
        elif kind == "title":
            titles = [i for i in items if isinstance(i, TitleIn)]
            request, path = TitlesRequest(worker_id=self.worker_id, titles=titles), METADATA_PATH
        elif kind == "archive":
            segments = [i for i in items if isinstance(i, ArchiveIn)]
            request = ArchiveRequest(worker_id=self.worker_id, segments=segments)
            path = ARCHIVE_PATH
        else:
            clips = [i for i in items if isinstance(i, ClipIn)]
            request, path = ClipsRequest(worker_id=self.worker_id, clips=clips), CLIPS_PATH
        try:
            resp = await self._call("POST", path, json=_dump(request), conflict_ok=True)
        except OrchestratorRejected as exc:
            if exc.status == WRONG_CREDENTIAL:
                raise OrchestratorUnavailable(str(exc)) from exc
            raise
        if resp.status_code == ALL_STALE:
            raise StaleEpoch(f"all {len(items)} {kind}s carry stale epochs: {resp.text[:200]}")
        return _parse(PlaysResponse, resp).results

    async def send_plays(self, plays: list[PlayIn]) -> PlaysResponse:
        """Send one batch of plays (see :meth:`send_fenced`)."""
        return PlaysResponse(results=await self.send_fenced("play", plays))

    async def send_titles(self, titles: list[TitleIn]) -> TitlesResponse:
        """Send one batch of stream titles (see :meth:`send_fenced`)."""
        return TitlesResponse(results=await self.send_fenced("title", titles))

    async def download_snapshot(self, etag: str | None) -> Snapshot | None:
        """The catalog snapshot, or None when ``etag`` is still current (304) or none exists.

        A body that does not match the orchestrator's sha256 (truncated or damaged on the
        way) is downloaded again, up to the call attempts; then ``SnapshotCorrupt``: a
        damaged index is never handed on to be loaded.
        """
        headers = {"If-None-Match": etag} if etag else {}
        # no sha256 header: an orchestrator from before checksums (the index format
        # checks still apply when it is loaded)
        got = await self._verified_get(SNAPSHOT_PATH, headers, "catalog snapshot", optional=True)
        if got is None:
            return None
        resp, data, _ = got
        new_etag = resp.headers.get("ETag", "")
        return Snapshot(version=etag_version(new_etag), etag=new_etag, data=data)

    async def download_manifest(self, etag: str | None) -> tuple[int, dict[str, Any] | None]:
        """(status, body) of the catalog manifest: 200 with it, 304 unchanged, 204 none
        yet (empty catalog, first base building), 404 an orchestrator without segments."""
        headers = {"If-None-Match": etag} if etag else {}
        resp = await self._call("GET", MANIFEST_PATH, headers=headers, not_found_ok=True)
        if resp.status_code == 404 and resp.headers.get(SEGMENTS_HEADER):
            return 204, None
        if resp.status_code != 200:
            return resp.status_code, None
        try:
            body = resp.json()
            if not isinstance(body, dict) or not isinstance(body.get("segments"), list):
                raise ValueError("not a manifest")
        except ValueError as exc:
            raise OrchestratorRejected(f"bad catalog manifest: {exc}", status=200) from exc
        return 200, body

    async def download_segment(self, name: str) -> tuple[bytes, str] | None:
        """A catalog segment and its sha256, or None if gone (404).

        As for the full snapshot, the body must match the serving replica's sha256 header
        (replicas may hold different bytes under one name); a damaged body is downloaded
        again, up to the call attempts, then ``SnapshotCorrupt``: never handed on.
        """
        got = await self._verified_get(
            SEGMENT_PATH.format(name=name), {}, f"catalog segment {name}", optional=False
        )
        return None if got is None else (got[1], got[2])

    async def _verified_get(
        self, path: str, headers: dict[str, str], what: str, *, optional: bool
    ) -> tuple[httpx.Response, bytes, str] | None:
        """GET a catalog file whose body must match the serving replica's sha256 header.

        None on 304/404. A damaged body is downloaded again, up to the call attempts, then
        ``SnapshotCorrupt``: never handed on. ``optional``: a response without the header
        (an orchestrator from before checksums) is taken as it is.
        """
        for attempt in range(1, self.retries + 1):
            resp = await self._call("GET", path, headers=headers, not_found_ok=True)
            if resp.status_code in (304, 404):
                return None
            data = resp.content
            want = resp.headers.get(SNAPSHOT_SHA256_HEADER)
            got = hashlib.sha256(data).hexdigest()
            if got == want or (optional and want is None):
                return resp, data, got
            log.warning(
                "catalog_download_corrupt",
                what=what,
                bytes=len(data),
                expected=want,
                got=got,
                attempt=attempt,
            )
        raise SnapshotCorrupt(f"{what} failed its checksum {self.retries} times")

    # --- transport with retries and breaker ---------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        not_found_ok: bool = False,
        conflict_ok: bool = False,
        retries: int | None = None,
        probe: bool = False,
    ) -> httpx.Response:
        """``probe``: an open breaker lets this call's first attempt through at once."""
        attempts = self.retries if retries is None else max(1, retries)
        last = ""
        for attempt in range(1, attempts + 1):
            if probe and attempt == 1:
                self.breaker.probe_now()
            if not self.breaker.allow():
                raise OrchestratorUnavailable(
                    f"circuit open after repeated failures ({last or 'earlier calls'}); "
                    f"next probe in {self.breaker.retry_after():.1f} s"
                )
            try:
                resp = await self._http.request(method, path, json=json, headers=headers)
            except asyncio.CancelledError:
                self.breaker.release_probe()  # a cancelled probe must not wedge the breaker
                raise
            except httpx.TransportError as exc:
                self.breaker.record_failure()
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if resp.status_code >= 500 or resp.status_code == 429:
                    self.breaker.record_failure()
                    last = f"HTTP {resp.status_code}"
                else:
                    self.breaker.record_success()
                    ok = resp.status_code < 400 or resp.status_code == 304
                    ok = ok or (not_found_ok and resp.status_code == 404)
                    ok = ok or (conflict_ok and resp.status_code == ALL_STALE)
                    if not ok:
                        raise OrchestratorRejected(
                            f"{method} {path} → HTTP {resp.status_code}: {resp.text[:300]}",
                            status=resp.status_code,
                        )
                    return resp
            log.info(
                "orchestrator_call_failed", method=method, path=path, attempt=attempt, error=last
            )
            if attempt < attempts:
                await asyncio.sleep(
                    backoff_delay(attempt, base=self.retry_base_s, cap=self.retry_cap_s)
                )
        raise OrchestratorUnavailable(f"{method} {path} failed after {attempts} attempts: {last}")


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json", exclude_none=True)


def _parse(model: type[M], resp: httpx.Response) -> M:
    try:
        return model.model_validate_json(resp.content)
    except ValidationError as exc:
        raise OrchestratorRejected(
            f"unexpected reply to {resp.request.url.path}: {exc.errors()[0]['msg']}",
            status=resp.status_code,
        ) from exc


def _log_breaker(name: str, old: BreakerState, new: BreakerState) -> None:
    log.warning("circuit_breaker", breaker=name, old=str(old), new=str(new))
