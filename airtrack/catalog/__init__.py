"""The catalog: ingest files into the database, export index snapshots, identify and scan.

* :mod:`~airtrack.catalog.ingest` — ``catalog add``: walk, hash, fingerprint in a process
  pool, one transaction per track;
* :mod:`~airtrack.catalog.store` — catalog rows (add/list/remove, revision bumps);
* :mod:`~airtrack.catalog.snapshot` — ``ensure_snapshot``: the index file of the current
  revision, cached under ``AIRTRACK_HOME/snapshots`` (served to workers);
* :mod:`~airtrack.catalog.recognise` — ``identify`` and ``scan`` with the live matcher.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Names are loaded on first use: ``scan`` reads a cached snapshot with files.py and
# recognise.py alone, without the database driver that store.py and ingest.py load.
_WHERE = {
    "files": ("Candidate", "FileResult", "IngestSummary", "discover"),
    "ingest": ("ingest",),
    "recognise": (
        "Identified",
        "ScanPlay",
        "describe_match",
        "describe_plays",
        "identify_clip",
        "scan_plays",
    ),
    "snapshot": ("Snapshot", "ensure_snapshot", "load_index", "snapshot_dir"),
    "store": (
        "ENGINE",
        "TrackRow",
        "add_track",
        "catalog_revision",
        "list_tracks",
        "remove_track",
        "tracks_by_ids",
    ),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"airtrack.catalog.{module}"), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Loading a submodule sets the package's attribute of its name: the submodule
    ``ingest`` must not hide the function ``ingest`` (which the eager imports bound)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _MODULE_OF and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
