"""The scan card's track table: read an entry at a time, not converted whole on load."""

from __future__ import annotations

import json
from pathlib import Path

from airtrack.catalog.card import current_card
from airtrack.home import Place


def _home(tmp_path: Path, tracks: object) -> Place:
    """A stopped embedded database's files, a snapshot and a card that stamps them."""
    (tmp_path / "pg").mkdir()
    (tmp_path / "snapshots").mkdir()
    (tmp_path / "snapshots" / "catalog.idx").write_bytes(b"index")
    stamp = []
    for rel in ("state", "tracks"):
        f = tmp_path / "pg" / rel
        f.write_text(rel)
        stamp.append([rel, f.stat().st_size, f.stat().st_mtime_ns])
    card = {"format": 1, "snapshot": "catalog.idx", "revision": 1, "stamp": stamp,
            "tracks": tracks}  # fmt: skip
    (tmp_path / "snapshots" / "scan-card.json").write_text(json.dumps(card))
    return Place(tmp_path, None)


def test_a_card_converts_only_the_tracks_read(tmp_path: Path) -> None:
    """100,000 entries, all but two of a shape no conversion accepts: the card is still
    used (only the tracks a scan found are read), and an unreadable entry reads as an
    unnamed track, as one the card does not hold."""
    tracks: dict[str, object] = {str(i): [] for i in range(100_000)}
    tracks["7"] = ["Title", "Artist", "lib/a.mp3"]
    tracks["8"] = ["Other", None, None]
    card = current_card(_home(tmp_path, tracks))
    assert card is not None
    assert card.tracks[7] == ("Title", "Artist", "lib/a.mp3")
    assert card.tracks.get(8) == ("Other", None, None)
    assert card.tracks.get(9, (None, None, None)) == (None, None, None)  # a [] entry
    assert card.tracks.get(100_001) is None
    assert len(card.tracks) == 100_000 and 7 in set(card.tracks)


def test_a_card_whose_track_table_is_not_a_table_is_not_used(tmp_path: Path) -> None:
    assert current_card(_home(tmp_path, [["Title", None, None]])) is None
