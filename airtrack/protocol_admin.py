"""Wire models of the operator routes for track and station metadata (docs/reports.md).

Values are checked by the same functions the CLI uses (:mod:`airtrack.catalog.metadata`,
:mod:`airtrack.orchestrator.stream_edit`), so the API refuses exactly what the CLI refuses,
with the same message (as a 4xx).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from airtrack.protocol import API_PREFIX, MAX_ID, _Model, check_extra

__all__ = [
    "CATALOG_TRACKS_PATH",
    "PLAY_CLIP_PATH",
    "REFUSED_ACCEPT_PATH",
    "REFUSED_DISCARD_PATH",
    "REFUSED_PLAYS_PATH",
    "STREAMS_IMPORT_PATH",
    "STREAMS_UPTIME_PATH",
    "UNKNOWNS_PATH",
    "UNKNOWN_CLIP_PATH",
    "UNKNOWN_DISMISS_PATH",
    "UNKNOWN_LABEL_PATH",
    "UNKNOWN_PATH",
    "RefusedIds",
    "RefusedOut",
    "StreamEdit",
    "StreamUptime",
    "TrackEdit",
    "UnknownLabel",
]

CATALOG_TRACKS_PATH = f"{API_PREFIX}/catalog/tracks"
STREAMS_IMPORT_PATH = f"{API_PREFIX}/streams/import"
#: Each stream's health and uptime (docs/integrations.md#stream-health).
STREAMS_UPTIME_PATH = f"{API_PREFIX}/streams/uptime"
#: Plays and stream titles the epoch fence refused, waiting for review (docs/deployment.md).
REFUSED_PLAYS_PATH = f"{API_PREFIX}/plays/refused"
REFUSED_ACCEPT_PATH = f"{REFUSED_PLAYS_PATH}/accept"
REFUSED_DISCARD_PATH = f"{REFUSED_PLAYS_PATH}/discard"
#: A play's proof clip, and the newest clip of a recurring unknown (docs/unknown.md):
#: the audio itself (audio/ogg or audio/mpeg), 404 when there is none.
PLAY_CLIP_PATH = f"{API_PREFIX}/plays/{{play_id}}/clip"
UNKNOWN_CLIP_PATH = f"{API_PREFIX}/unknowns/{{unknown_id}}/clip"

_Text = Annotated[str | None, Field(max_length=500)]
_ExtraKey = Annotated[str, Field(min_length=1, max_length=100)]
_ExtraValue = Annotated[str | None, Field(max_length=2000)]
#: Free-form fields, merged into the stored ones (a ``null`` value removes a key).
_Extra = Annotated[dict[_ExtraKey, _ExtraValue], Field(max_length=100), AfterValidator(check_extra)]


class TrackEdit(_Model):
    """Fields to change on a track; a field left out is unchanged, ``null`` clears it.

    ``extra`` is merged into the track's ``extra`` (a ``null`` value removes the key).
    """

    title: _Text = None
    artist: _Text = None
    album: _Text = None
    label: _Text = None
    isrc: _Text = None
    iswc: _Text = None
    composers: list[Annotated[str, Field(max_length=500)]] | None = Field(
        default=None, max_length=100
    )
    release_year: int | None = None
    duration_s: float | None = None
    extra: _Extra = Field(default_factory=dict)


class StreamEdit(_Model):
    """Fields to change on a stream (by name); left out: unchanged, ``null``: cleared.

    ``backup_urls`` replaces the list; ``extra`` is merged (a ``null`` value removes a key).
    """

    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    url: Annotated[str | None, Field(max_length=2000)] = None
    backup_urls: list[Annotated[str, Field(max_length=2000)]] | None = Field(
        default=None, max_length=20
    )
    timezone: Annotated[str | None, Field(max_length=64)] = None
    country: _Text = None
    region: _Text = None
    city: _Text = None
    genre: _Text = None
    #: The listener statistics endpoint (``null`` removes it).
    stats_url: Annotated[str | None, Field(max_length=2000)] = None
    extra: _Extra = Field(default_factory=dict)


class StreamUptime(BaseModel):
    """A stream's health and the share of its monitored time it was up, per window
    (``None``: not monitored at all in the window)."""

    stream: str
    health: str
    uptime_24h: float | None = None
    uptime_7d: float | None = None


class RefusedOut(BaseModel):
    """A play or stream title the fence refused, as its worker sent it."""

    id: int
    kind: str
    key: str
    stream_id: int
    stream: str | None
    epoch: int
    worker_id: str | None
    #: unknown_stream, epoch_ahead, epoch_superseded or other_writer
    reason: str
    item: dict[str, Any]
    refused_at: datetime
    #: how many times it was sent and refused
    times: int


class RefusedIds(_Model):
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=10_000)


#: Recurring unknowns (docs/unknown.md): the list, one, label, dismiss.
UNKNOWNS_PATH = f"{API_PREFIX}/unknowns"
UNKNOWN_PATH = f"{UNKNOWNS_PATH}/{{unknown_id}}"
UNKNOWN_LABEL_PATH = f"{UNKNOWN_PATH}/label"
UNKNOWN_DISMISS_PATH = f"{UNKNOWN_PATH}/dismiss"


class UnknownLabel(_Model):
    """What a recurring unknown is, to make it a catalog track."""

    title: Annotated[str, Field(min_length=1, max_length=500)]
    artist: Annotated[str, Field(min_length=1, max_length=500)]
    isrc: Annotated[str | None, Field(max_length=40)] = None
