"""Routes for integrations (admin token): webhook endpoints and the event stream (SSE).

``GET /api/v1/events`` serves the outbox as Server-Sent Events: each event's SSE id is
its ``outbound_events`` id, so a client that reconnects with ``Last-Event-ID`` resumes
right after the last event it saw (while the event is within the retention).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sse_starlette import EventSourceResponse, ServerSentEvent

from airtrack.orchestrator import webhooks
from airtrack.orchestrator.delivery import read_events, wait_for_events
from airtrack.protocol import API_PREFIX, StreamName

from .deps import Admin, State, found_or_404

router = APIRouter(prefix=API_PREFIX, dependencies=[Admin], tags=["admin"])

#: Events sent per database read of the event stream.
SSE_BATCH = 500
#: The largest event id (bigint); a larger resume point is past the end of the outbox.
MAX_ID = 2**63 - 1
#: A resume point: ASCII digits only (``str.isdigit`` and ``int`` also take other
#: scripts' digits and superscripts), at most 40 of them.
_EVENT_ID = re.compile(r"[0-9]{1,40}")

EndpointId = Annotated[int, Path(ge=1, le=MAX_ID)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000)
    events: list[str] = Field(default_factory=list, max_length=20)
    streams: list[StreamName] = Field(default_factory=list, max_length=10_000)

    @field_validator("url", "events", "streams", mode="after")
    @classmethod
    def _no_nul(cls, v: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here (422), not in the database (500).
        if any("\x00" in x for x in ([v] if isinstance(v, str) else v)):
            raise ValueError("text must not contain NUL characters")
        return v


@router.post(
    "/webhooks",
    status_code=201,
    responses={
        409: {"description": "as many endpoints as AIRTRACK_WEBHOOK_ENDPOINTS_MAX"},
        422: {"description": "invalid request, or the URL policy refuses the URL"},
    },
)
async def post_webhook(req: WebhookCreate, st: State) -> dict[str, Any]:
    """Register an endpoint; the answer carries its secret, shown this once."""
    return await webhooks.add_endpoint(st.db, req.url, req.events, req.streams, st.settings)


@router.get("/webhooks")
async def get_webhooks(st: State) -> list[dict[str, Any]]:
    """Endpoints with their delivery state; ``events`` and ``streams`` as ``POST`` takes them."""
    return await webhooks.list_endpoints(st.db)


@router.delete("/webhooks/{endpoint_id}", responses={404: {"description": "no such webhook"}})
async def delete_webhook(endpoint_id: EndpointId, st: State) -> dict[str, Any]:
    found_or_404(
        await webhooks.remove_endpoint(st.db, endpoint_id), f"no webhook with id {endpoint_id}"
    )
    return {"removed": endpoint_id}


@router.post("/webhooks/{endpoint_id}/test", responses={404: {"description": "no such webhook"}})
async def test_webhook(endpoint_id: EndpointId, st: State) -> dict[str, Any]:
    """Send one signed ``webhook.test`` message now; ``ok`` says whether the receiver
    answered 2xx (and nothing more: not its status, not why it failed)."""
    return await webhooks.test_endpoint(st.db, endpoint_id, st.settings)


# Not in the OpenAPI schema: a stream never ends, so generated clients and fuzzers that
# wait for a whole response would hang on it (docs/integrations.md#event-stream).
@router.get("/events", include_in_schema=False)
async def get_events(
    request: Request,
    st: State,
    types: Annotated[str | None, Query(max_length=500)] = None,
    stream: Annotated[list[str] | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=40)] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Events as Server-Sent Events; resume with ``Last-Event-ID`` (or ``?after=``).

    Without either, the stream starts with the events written from now on.
    """
    type_list = [t for t in (types or "").split(",") if t]
    unknown = sorted(set(type_list) - set(webhooks.EVENT_TYPES))
    if unknown:
        raise HTTPException(422, f"unknown event types {unknown}")
    stream_ids: list[int] = []
    if stream:
        if len(stream) > 10_000 or any("\x00" in s or len(s) > 500 for s in stream):
            raise HTTPException(422, "stream names: at most 10,000, without NUL characters")
        rows = await st.db.fetch("webhook_stream_ids", {"names": stream})
        missing = sorted(set(stream) - {r["name"] for r in rows})
        if missing:
            raise HTTPException(404, f"no streams named {missing}")
        stream_ids = [int(r["id"]) for r in rows]
    resume = after
    if last_event_id is not None:
        resume = last_event_id
    if resume is not None:
        if not _EVENT_ID.fullmatch(resume):
            raise HTTPException(
                422, "Last-Event-ID and ?after= must be an event id of this stream (digits)"
            )
        # Past the newest event (a forged or foreign id): new events only. Clamped to
        # bigint first, so the database never sees a number it cannot hold.
        at = min(int(resume), MAX_ID)
        pos = await st.db.fetchone("events_position", {"id": at})
        assert pos is not None
        cursor = (str(pos["txid"]), at)
    else:
        last = await st.db.fetchone("events_last")
        cursor = (str(last["txid"]), int(last["id"])) if last else ("0", 0)

    async def feed() -> AsyncIterator[ServerSentEvent]:
        nonlocal cursor
        recheck = st.settings.events_recheck_s
        while not await request.is_disconnected():
            seen = st.events.generation if st.events is not None else 0
            rows, read_to = await read_events(
                st.db, cursor, types=type_list, stream_ids=stream_ids, limit=SSE_BATCH
            )
            for row in rows:
                cursor = (str(row["txid"]), int(row["id"]))
                yield ServerSentEvent(
                    data=json.dumps(_event(row), default=str), id=str(cursor[1]), event=row["type"]
                )
            cursor = read_to  # past the events this filter does not want, too
            if len(rows) < SSE_BATCH:
                if st.events is not None:
                    recheck = await wait_for_events(
                        st.db,
                        st.events,
                        st.settings,
                        seen=seen,
                        cursor=cursor,
                        types=type_list,
                        stream_ids=stream_ids,
                        recheck=recheck if not rows else st.settings.events_recheck_s,
                    )
                else:
                    await asyncio.sleep(st.settings.events_poll_s)

    return EventSourceResponse(feed(), ping=15, send_timeout=st.settings.webhook_timeout_s)


def _event(row: dict[str, Any]) -> dict[str, Any]:
    """An outbox row in the same shape webhooks receive, plus its id."""
    return {
        "id": row["event_id"],
        "type": row["type"],
        "timestamp": row["at"].isoformat(),
        "data": row["data"],
    }
