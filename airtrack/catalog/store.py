"""Catalog rows in the database: add one track (one transaction), list, remove, look up.

Every change of the catalog bumps ``catalog_state.revision`` in the same transaction, so a
snapshot keyed by revision is never stale (see :mod:`airtrack.catalog.snapshot`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airtrack.checks import clean_text
from airtrack.db import Database, Tx
from airtrack.errors import CatalogConflict, CatalogError
from airtrack.fingerprint import PRINTS_VERSION
from airtrack.fingerprint.params import PEAKS_VERSION
from airtrack.logging import get_logger

from .metadata import TRACK_TEXT_FIELDS

__all__ = [
    "ENGINE",
    "AddOutcome",
    "NewTrack",
    "TrackRow",
    "add_track",
    "catalog_revision",
    "find_by_sha",
    "get_track",
    "list_tracks",
    "remove_track",
    "track_from_row",
    "tracks_by_ids",
]

log = get_logger(__name__)

#: Value of ``track_prints.engine`` for prints made by this build's fingerprint engine.
ENGINE = f"landmark-v{PRINTS_VERSION}"


@dataclass(frozen=True, slots=True)
class TrackRow:
    id: int
    title: str | None
    artist: str | None
    source: str
    duration_s: float
    added_at: datetime | None = None
    album: str | None = None
    label: str | None = None
    isrc: str | None = None
    iswc: str | None = None
    composers: tuple[str, ...] = ()
    release_year: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrackRow:
        """Back from :meth:`to_json` (the remote CLI reads the API's answer)."""
        added = d.get("added_at")
        return cls(
            id=int(d["id"]),
            title=d.get("title"),
            artist=d.get("artist"),
            source=str(d["source"]),
            duration_s=float(d["duration_s"]),
            added_at=datetime.fromisoformat(added) if added else None,
            album=d.get("album"),
            label=d.get("label"),
            isrc=d.get("isrc"),
            iswc=d.get("iswc"),
            composers=tuple(d.get("composers") or ()),
            release_year=d.get("release_year"),
            extra=dict(d.get("extra") or {}),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            **self._described(),
            "source": self.source,
            "duration_s": round(self.duration_s, 3),
            "added_at": self.added_at.isoformat() if self.added_at else None,
            "extra": dict(self.extra),
        }

    def _described(self) -> dict[str, Any]:
        """What a person says about the recording: the text fields, composers, year."""
        return {
            **{name: getattr(self, name) for name in TRACK_TEXT_FIELDS},
            "composers": list(self.composers),
            "release_year": self.release_year,
        }

    def fields(self) -> dict[str, Any]:
        """The editable fields as :mod:`airtrack.catalog.metadata` handles them."""
        return {
            **self._described(),
            "duration_s": self.duration_s,
            "extra": dict(self.extra),
        }


def track_from_row(r: Mapping[str, Any]) -> TrackRow:
    """A ``TrackRow`` from a row of ``catalog_list``/``catalog_track``/``catalog_lock_tracks``."""
    return TrackRow(
        int(r["id"]),
        r["title"],
        r["artist"],
        r["source"],
        float(r["duration_s"]),
        r["added_at"],
        r["album"],
        r["label"],
        r["isrc"],
        r["iswc"],
        tuple(r["composers"] or ()),
        r["release_year"],
        dict(r["extra"] or {}),
    )


@dataclass(frozen=True, slots=True)
class NewTrack:
    """Everything stored for one catalog file."""

    title: str | None
    artist: str | None
    source: str
    duration_s: float
    sha256: str
    prints: bytes
    #: album, label, isrc, iswc, composers, release_year from the file's tags
    meta: Mapping[str, Any] = field(default_factory=dict)
    #: the spectral peaks (``pack_peaks``): prints are re-derived from them by a reindex;
    #: empty where the sender does not have them (remote uploads)
    peaks: bytes = b""


@dataclass(frozen=True, slots=True)
class AddOutcome:
    """``status``: ``added``, ``duplicate`` (of ``track_id``) or ``updated`` (prints renewed)."""

    status: str
    track_id: int


def _clean(text: str | None) -> str | None:
    # PostgreSQL text refuses NUL; unencodable file-name bytes become escapes
    if text is None:
        return None
    return text.replace("\x00", "").encode("utf-8", "backslashreplace").decode("utf-8")


def _clean_title(text: str | None) -> str | None:
    """A title, artist, album, label or composer as stored: no control characters."""
    cleaned = _clean(text)
    return (clean_text(cleaned) or None) if cleaned is not None else None


def _meta_params(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "album": _clean_title(meta.get("album")),
        "label": _clean_title(meta.get("label")),
        "isrc": meta.get("isrc"),
        "iswc": meta.get("iswc"),
        "composers": [c for c in (_clean_title(x) for x in meta.get("composers") or ()) if c],
        "release_year": meta.get("release_year"),
        "extra": dict(meta.get("extra") or {}),
    }


async def find_by_sha(db: Database, sha256: str) -> tuple[int, bool] | None:
    """``(track_id, prints_current)`` of the track with this content hash, if any."""
    row = await db.fetchone("catalog_track_by_sha", {"sha": sha256})
    if row is None:
        return None
    return int(row["id"]), row["engine"] == ENGINE


async def add_track(db: Database, track: NewTrack) -> AddOutcome:
    """Insert a track with its prints and bump the revision, all in one transaction.

    Content already in the catalog is a ``duplicate``; if its stored prints were made by
    another engine version they are replaced (``updated``).
    """

    async def tx(t: Tx) -> AddOutcome:
        params = {
            "title": _clean_title(track.title),
            "artist": _clean_title(track.artist),
            "source": _clean(track.source),
            "duration_s": float(track.duration_s),
            "sha": track.sha256,
            **_meta_params(track.meta),
        }
        isrc = params["isrc"]
        if isrc is not None and (
            holder := await t.fetchval("catalog_track_by_isrc", {"isrc": isrc})
        ):
            # two files of one recording share its ISRC; the second is still worth
            # recognising, so it is stored without the code rather than refused
            log.warning("catalog.isrc_taken", source=params["source"], isrc=isrc, holder=holder)
            params["isrc"] = None
        new_id = await t.fetchval("catalog_insert_track", params)
        if new_id is None:
            row = await t.fetchone("catalog_track_by_sha", {"sha": track.sha256})
            if row is None:  # removed between the two statements: let the caller report it
                raise CatalogConflict("the same content was removed while this file was added")
            if row["engine"] == ENGINE:
                return AddOutcome("duplicate", int(row["id"]))
            new_id, status = int(row["id"]), "updated"
        else:
            status = "added"
        await t.execute(
            "catalog_put_prints",
            {"track_id": new_id, "engine": ENGINE, "prints": track.prints},
        )
        if track.peaks:
            await t.execute(
                "catalog_put_peaks",
                {"track_id": new_id, "version": PEAKS_VERSION, "peaks": track.peaks},
            )
        await t.fetchval("catalog_bump_revision")
        return AddOutcome(status, int(new_id))

    return await db.run("catalog_add_track", tx, idempotent=True)


async def list_tracks(db: Database, search: str | None = None) -> list[TrackRow]:
    """Every track, or those with ``search`` (case-insensitive) in a descriptive field."""
    pattern = None
    if search:
        pattern = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await db.fetch("catalog_list", {"search": pattern})
    return [track_from_row(r) for r in rows]


async def get_track(db: Database, track_id: int) -> TrackRow | None:
    row = await db.fetchone("catalog_track", {"id": track_id})
    return None if row is None else track_from_row(row)


async def remove_track(db: Database, track_id: int, *, force: bool = False) -> TrackRow | None:
    """Delete a track (its prints go with it) and bump the revision; None if unknown.

    A track with logged plays is refused (:class:`CatalogError`) unless ``force``: its
    plays stay, with the title, artist and source copied when they were stored.
    """

    async def tx(t: Tx) -> TrackRow | None:
        found = await t.fetchone("catalog_track_plays", {"id": track_id})
        if found is None:
            return None
        if found["plays"] and not force:
            n = int(found["plays"])
            raise CatalogError(
                f"track #{track_id} has {n} play{'' if n == 1 else 's'} logged; "
                f"`airtrack catalog remove --force {track_id}` removes it anyway "
                "(the plays keep its title, artist and source)"
            )
        row = await t.fetchone("catalog_delete_track", {"id": track_id})
        if row is None:
            return None
        await t.fetchval("catalog_bump_revision")
        return TrackRow(int(row["id"]), row["title"], row["artist"], row["source"], 0.0)

    return await db.run("catalog_remove_track", tx, idempotent=True)


async def tracks_by_ids(db: Database, ids: Iterable[int]) -> dict[int, TrackRow]:
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return {}
    rows = await db.fetch("catalog_tracks_by_ids", {"ids": wanted})
    return {
        int(r["id"]): TrackRow(
            int(r["id"]), r["title"], r["artist"], r["source"], float(r["duration_s"])
        )
        for r in rows
    }


async def catalog_revision(db: Database) -> tuple[int, datetime]:
    row = await db.fetchone("catalog_state")
    if row is None:  # the migration inserts the row; a hand-emptied table is repaired by add
        return 0, datetime.fromtimestamp(0).astimezone()
    return int(row["revision"]), row["changed_at"]
