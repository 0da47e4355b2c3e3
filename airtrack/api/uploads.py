"""``catalog add`` from a remote CLI (admin token): the CLI fingerprints the files on its
own machine and sends the prints and tags here; the audio never leaves that machine."""

from __future__ import annotations

import asyncio
import base64
import binascii

from fastapi import APIRouter, HTTPException

from airtrack.catalog.store import ENGINE, NewTrack, add_track, find_by_sha
from airtrack.errors import AudioError
from airtrack.fingerprint.landmarks import MAX_PRINTS_RATIO, unpack_prints
from airtrack.protocol import UPLOADS_PATH, KnownContent, PrintsUpload, UploadResult

from .deps import Admin, State

router = APIRouter(prefix=UPLOADS_PATH, dependencies=[Admin], tags=["admin"])


@router.get(
    "/{sha256}", response_model=KnownContent, responses={404: {"description": "not in catalog"}}
)
async def known(sha256: str, st: State) -> KnownContent:
    """Whether content with this sha256 is in the catalog, and its prints are current."""
    found = await find_by_sha(st.db, sha256.lower())
    if found is None:
        raise HTTPException(404, "no track with this content")
    return KnownContent(track_id=found[0], current=found[1])


@router.post(
    "",
    response_model=UploadResult,
    responses={409: {"description": "prints of another engine"}, 422: {"description": "bad"}},
)
async def upload(req: PrintsUpload, st: State) -> UploadResult:
    if req.engine != ENGINE:
        raise HTTPException(
            409,
            f"prints made by {req.engine}, the orchestrator uses {ENGINE}: "
            "upgrade airtrack on this machine or the server",
        )
    try:
        prints = base64.b64decode(req.prints, validate=True)
    except binascii.Error:
        raise HTTPException(422, "prints: not base64") from None
    if not prints:
        raise HTTPException(422, "prints: empty")
    try:
        # a blob no index can read would be stored, then skipped by every build
        await asyncio.to_thread(unpack_prints, prints, max_ratio=MAX_PRINTS_RATIO)
    except AudioError as exc:
        raise HTTPException(422, f"prints: {exc}") from None
    track = NewTrack(req.title, req.artist, req.source, req.duration_s, req.sha256, prints)
    outcome = await add_track(st.db, track)  # a concurrent removal: 409 (app.py)
    return UploadResult(status=outcome.status, track_id=outcome.track_id)
