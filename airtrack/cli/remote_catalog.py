"""``catalog add`` against the orchestrator's API: fingerprints made here, uploaded there.

The same ingest pipeline as the local command (:func:`airtrack.catalog.ingest.ingest`)
with :class:`ApiTrackStore` as its store: content already in the catalog is skipped by
its sha256 before any decoding, and only the compact prints and tags travel.
"""

from __future__ import annotations

import asyncio
import base64

from airtrack.catalog.store import ENGINE, AddOutcome, NewTrack
from airtrack.errors import OrchestratorRejected

from .remote import AdminClient


class ApiTrackStore:
    """A :class:`~airtrack.catalog.ingest.TrackStore` over ``/api/v1/catalog/uploads``."""

    def __init__(self, client: AdminClient) -> None:
        self.client = client

    async def find_by_sha(self, sha256: str) -> tuple[int, bool] | None:
        try:
            body = await asyncio.to_thread(self.client.get_json, f"/catalog/uploads/{sha256}")
        except OrchestratorRejected as exc:
            if exc.status == 404:
                return None
            raise
        return int(body["track_id"]), bool(body["current"])

    async def add_track(self, track: NewTrack) -> AddOutcome:
        body = {
            "title": track.title,
            "artist": track.artist,
            "source": track.source,
            "duration_s": track.duration_s,
            "sha256": track.sha256,
            "engine": ENGINE,
            "prints": base64.b64encode(track.prints).decode(),
        }
        got = await asyncio.to_thread(self.client.send_json, "POST", "/catalog/uploads", body)
        return AddOutcome(str(got["status"]), int(got["track_id"]))
