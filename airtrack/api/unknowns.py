"""Routes for recurring unknowns (admin token): list, one, label, dismiss (docs/unknown.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from airtrack.orchestrator import unknowns
from airtrack.protocol import API_PREFIX, MAX_ID
from airtrack.protocol_admin import (
    UNKNOWN_DISMISS_PATH,
    UNKNOWN_LABEL_PATH,
    UNKNOWN_PATH,
    UNKNOWNS_PATH,
    UnknownLabel,
)

from .deps import Admin, State

router = APIRouter(prefix=API_PREFIX, dependencies=[Admin], tags=["admin"])

UnknownId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get(UNKNOWNS_PATH.removeprefix(API_PREFIX))
async def get_unknowns(
    st: State,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    min_airings: Annotated[int, Query(ge=1, le=1_000_000)] = 2,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    """Open unknowns, most airings first (``airtrack unknown list``)."""
    return await unknowns.list_unknowns(
        st.db, since=start, until=end, min_airings=min_airings, limit=limit
    )


@router.get(
    UNKNOWN_PATH.removeprefix(API_PREFIX), responses={404: {"description": "no such unknown"}}
)
async def get_unknown(unknown_id: UnknownId, st: State) -> dict[str, Any]:
    """One unknown with its airings (``airtrack unknown show``)."""
    return await unknowns.show_unknown(st.db, unknown_id)


@router.post(
    UNKNOWN_LABEL_PATH.removeprefix(API_PREFIX),
    responses={404: {"description": "no such unknown"}, 422: {"description": "cannot label"}},
)
async def post_unknown_label(unknown_id: UnknownId, req: UnknownLabel, st: State) -> dict[str, Any]:
    """Make the unknown a catalog track and back-fill its airings."""
    return await unknowns.label(
        st.db, st.settings, unknown_id, title=req.title, artist=req.artist, isrc=req.isrc
    )


@router.post(
    UNKNOWN_DISMISS_PATH.removeprefix(API_PREFIX),
    responses={404: {"description": "no such unknown"}},
)
async def post_unknown_dismiss(unknown_id: UnknownId, st: State) -> dict[str, Any]:
    """Hide the unknown (its later airings stay hidden with it)."""
    return await unknowns.dismiss(st.db, unknown_id)
