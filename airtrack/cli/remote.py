"""The admin CLI over the orchestrator's API, for a laptop with no database credentials.

Rule (docs/reports.md#remote): an admin command talks to the API when
``AIRTRACK_ORCHESTRATOR_URL`` and ``AIRTRACK_ADMIN_TOKEN`` are both set in the
environment and ``AIRTRACK_DATABASE_URL`` is not; ``airtrack --local …`` forces the
database. Remote commands never start or create an embedded database.

:class:`AdminClient` is the one seam: every remote command (and the catalog commands,
see :meth:`AdminClient.get_json` / :meth:`AdminClient.send_json`) calls it. API
refusals (4xx) come back as :class:`~airtrack.errors.OrchestratorRejected` with the
API's message; an unreachable API as :class:`~airtrack.errors.OrchestratorUnavailable`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from airtrack.errors import AirtrackError, OrchestratorRejected, OrchestratorUnavailable
from airtrack.protocol import API_PREFIX
from airtrack.settings import Settings

_FORCE_LOCAL = False


def force_local(on: bool) -> None:
    """``airtrack --local``: use the database even when the remote variables are set."""
    global _FORCE_LOCAL
    _FORCE_LOCAL = on


def remote_variables_set() -> bool:
    """The API's address and the admin token are set and the database's URL is not."""
    env = os.environ
    return (
        bool(env.get("AIRTRACK_ORCHESTRATOR_URL"))
        and bool(env.get("AIRTRACK_ADMIN_TOKEN"))
        and not env.get("AIRTRACK_DATABASE_URL")
    )


def is_remote() -> bool:
    """True when admin commands should go through the API (see the module docstring)."""
    return not _FORCE_LOCAL and remote_variables_set()


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return r.text.strip()[:300] or r.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, list):  # FastAPI validation errors
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail
        )
    return str(detail or body)


class AdminClient:
    """Synchronous admin calls to ``/api/v1`` with the admin token."""

    def __init__(self, url: str, token: str, *, timeout_s: float) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.url + API_PREFIX,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout_s),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> AdminClient:
        assert settings.admin_token is not None
        return cls(
            settings.orchestrator_url, settings.admin_token, timeout_s=settings.http_timeout_s
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, r: httpx.Response) -> httpx.Response:
        if r.status_code >= 400:
            if r.status_code >= 500:
                raise OrchestratorUnavailable(
                    f"orchestrator at {self.url} answered {r.status_code}: {_detail(r)}"
                )
            rejected = OrchestratorRejected(_detail(r), status=r.status_code)
            try:
                problems = r.json().get("problems")
            except ValueError:
                problems = None
            rejected.problems = list(problems) if isinstance(problems, list) else None
            raise rejected
        return r

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise OrchestratorUnavailable(
                f"cannot reach the orchestrator at {self.url}: {exc}"
            ) from None
        return self._check(r)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=_clean(params)).json()

    def send_json(
        self, method: str, path: str, body: Any, params: Mapping[str, Any] | None = None
    ) -> Any:
        return self.request(method, path, json=body, params=_clean(params)).json()

    def post_file(
        self,
        path: str,
        data: bytes,
        params: Mapping[str, Any],
        refused: Callable[[str, list[str]], AirtrackError],
    ) -> Any:
        """POST a file's bytes; a refused file raises ``refused(message, bad lines)``."""
        try:
            return self.request("POST", path, content=data, params=_clean(params)).json()
        except OrchestratorRejected as exc:
            if exc.problems is None:
                raise
            raise refused(str(exc), exc.problems) from None

    @contextmanager
    def stream(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[Iterator[bytes]]:
        """The body of a GET as byte chunks; a refusal raises before the first chunk."""
        started = False
        try:
            with self.http.stream("GET", path, params=_clean(params)) as r:
                if r.status_code >= 400:
                    r.read()
                    self._check(r)
                started = True
                yield r.iter_bytes()
        except httpx.HTTPError as exc:
            if started:
                raise OrchestratorUnavailable(
                    f"the orchestrator at {self.url} broke off the response ({exc}); "
                    "its log says why (report.failed)"
                ) from None
            raise OrchestratorUnavailable(
                f"cannot reach the orchestrator at {self.url}: {exc}"
            ) from None


def _clean(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {k: v for k, v in params.items() if v is not None and v != []}
