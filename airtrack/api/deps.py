"""Route dependencies: the state, and who the caller is (worker or admin token)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from airtrack.protocol import CREDENTIAL_HEADER

from .state import AppState


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.airtrack
    return state


async def _state(request: Request) -> AppState:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool (costly per request)
    return app_state(request)


State = Annotated[AppState, Depends(_state)]


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def require(role: str) -> Callable[..., Awaitable[None]]:
    """Dependency: the caller presents a token of ``role`` (admin passes everywhere)."""

    async def check(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> None:
        got = app_state(request).tokens.role_of(bearer(authorization))
        if got is None:
            raise HTTPException(
                401, "missing or invalid token", headers={"WWW-Authenticate": "Bearer"}
            )
        if role == "admin" and got != "admin":
            raise HTTPException(403, "this route needs the admin token")

    return check


Worker = Depends(require("worker"))
Admin = Depends(require("admin"))

#: The per-worker credential header (absent for ids that never claimed one).
Credential = Annotated[str | None, Header(alias=CREDENTIAL_HEADER, max_length=256)]


def found_or_404(found: object, missing: str) -> None:
    """404 with ``missing`` as the detail unless ``found`` (a row, a removal that happened)."""
    if not found:
        raise HTTPException(404, missing)
