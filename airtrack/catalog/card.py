"""The scan card: what ``airtrack scan`` needs of the database, kept beside the snapshots.

A scan needs the index snapshot of the current catalog and the title, artist and source of
each track it finds.  After a scan has asked the embedded database for them, the card
keeps both (``AIRTRACK_HOME/snapshots/scan-card.json``) with a stamp of the files that
hold the tables they come from (``catalog_state``, ``tracks``): size and modification time,
taken after a ``CHECKPOINT`` so that every committed change is already in those files.

While the embedded server is stopped (no ``postmaster.pid``) nothing can write those files,
and at its shutdown checkpoint it writes every change made while it ran.  So a stopped
server whose two files still match the stamp holds the catalog the card describes: the
scan uses the card and starts no database.  Any write to those tables (a catalog change, a
metadata edit, a vacuum) changes a file, and the next scan asks the database again and
writes a new card; a false alarm only costs that one visit.  An external database
(``AIRTRACK_DATABASE_URL``) can change at any time: a scan always asks it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airtrack.catalog.snapshot import Snapshot
    from airtrack.db import Database
    from airtrack.home import Place
    from airtrack.settings import Settings

__all__ = ["CardTracks", "ScanCard", "current_card", "write_card"]

_NAME = "scan-card.json"
_FORMAT = 1

Description = tuple[str | None, str | None, str | None]  # title, artist, source


class CardTracks(Mapping[int, Description]):
    """The card's (title, artist, source) by track id, each converted when it is read.

    A scan reads the few tracks it found: converting every entry up front cost 0.12 s of
    each scan at 100,000 tracks.  An entry of the wrong shape reads as missing (the play
    is shown without its title), like a track the card does not name."""

    __slots__ = ("_raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self._raw = raw

    def __getitem__(self, track_id: int) -> Description:
        try:
            v = self._raw[str(track_id)]
            return (v[0], v[1], v[2])
        except (TypeError, IndexError) as exc:
            raise KeyError(track_id) from exc

    def __iter__(self) -> Iterator[int]:
        return (int(k) for k in self._raw)

    def __len__(self) -> int:
        return len(self._raw)


@dataclass(frozen=True, slots=True)
class ScanCard:
    """The snapshot of the current catalog and (title, artist, source) of every track."""

    snapshot: Path
    tracks: Mapping[int, Description]


def _card_path(home: Path) -> Path:
    return home / "snapshots" / _NAME


def _stamp(data_dir: Path, files: list[str]) -> list[list[object]] | None:
    stamp: list[list[object]] = []
    for rel in files:
        try:
            st = os.stat(data_dir / rel)
        except OSError:
            return None
        stamp.append([rel, st.st_size, st.st_mtime_ns])
    return stamp


def current_card(place: Place) -> ScanCard | None:
    """The card, if the embedded database provably holds what it describes; else None.

    Light on purpose: it takes the :class:`~airtrack.home.Place` read from the environment
    (no settings, no logging set up), so a scan that uses the card loads neither."""
    if place.database_url:
        return None
    data_dir = place.pg_dir
    if (data_dir / "postmaster.pid").exists():
        return None  # running: changes may sit in its memory, not yet in the files
    try:
        card = json.loads(_card_path(place.home).read_text())
        if card.get("format") != _FORMAT:
            return None
        files = [str(entry[0]) for entry in card["stamp"]]
        snapshot = place.home / "snapshots" / str(card["snapshot"])
        tracks = card["tracks"]
        if not isinstance(tracks, dict):
            return None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    if _stamp(data_dir, files) != card["stamp"] or not snapshot.is_file():
        return None
    return ScanCard(snapshot, CardTracks(tracks))


async def write_card(db: Database, settings: Settings, snapshot: Snapshot) -> None:
    """Copy what a scan needs and stamp it (embedded database only; no-op otherwise)."""
    if settings.database_url:
        return
    from airtrack.catalog.store import catalog_revision

    rows = await db.fetch("catalog_card_tracks")
    files = await db.fetchone("catalog_card_files")
    await db.execute("catalog_checkpoint")
    if files is None:
        return
    stamp = _stamp(settings.pg_dir, [files["state_file"], files["tracks_file"]])
    # changed since the snapshot was chosen: leave it to the next scan
    if stamp is None or (await catalog_revision(db))[0] != snapshot.revision:
        return
    card = {
        "format": _FORMAT,
        "snapshot": snapshot.path.name,
        "revision": snapshot.revision,
        "stamp": stamp,
        "tracks": {str(r["id"]): [r["title"], r["artist"], r["source"]] for r in rows},
    }
    path = _card_path(settings.home)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(card, ensure_ascii=False))
        tmp.replace(path)
    except OSError as exc:
        from airtrack.logging import get_logger

        get_logger(__name__).warning("catalog.card.unwritable", path=str(path), error=str(exc))
        with contextlib.suppress(OSError):
            tmp.unlink()
