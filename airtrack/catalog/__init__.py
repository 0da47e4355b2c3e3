"""The catalog: ingest files into the database, export index snapshots, identify and scan.

* :mod:`~airtrack.catalog.ingest` — ``catalog add``: walk, hash, fingerprint in a process
  pool, one transaction per track;
* :mod:`~airtrack.catalog.store` — catalog rows (add/list/remove, revision bumps);
* :mod:`~airtrack.catalog.snapshot` — ``ensure_snapshot``: the index file of the current
  revision, cached under ``AIRTRACK_HOME/snapshots`` (served to workers);
* :mod:`~airtrack.catalog.recognise` — ``identify`` and ``scan`` with the live matcher.
"""

from __future__ import annotations

from airtrack.catalog.files import Candidate, FileResult, IngestSummary, discover
from airtrack.catalog.ingest import ingest
from airtrack.catalog.recognise import (
    Identified,
    ScanPlay,
    describe_match,
    describe_plays,
    identify_clip,
    scan_plays,
)
from airtrack.catalog.snapshot import Snapshot, ensure_snapshot, load_index, snapshot_dir
from airtrack.catalog.store import (
    ENGINE,
    TrackRow,
    add_track,
    catalog_revision,
    list_tracks,
    remove_track,
    tracks_by_ids,
)

__all__ = [
    "ENGINE",
    "Candidate",
    "FileResult",
    "Identified",
    "IngestSummary",
    "ScanPlay",
    "Snapshot",
    "TrackRow",
    "add_track",
    "catalog_revision",
    "describe_match",
    "describe_plays",
    "discover",
    "ensure_snapshot",
    "identify_clip",
    "ingest",
    "list_tracks",
    "load_index",
    "remove_track",
    "scan_plays",
    "snapshot_dir",
    "tracks_by_ids",
]
