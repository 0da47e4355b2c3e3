"""Pure parts of the catalog: names → tags, folder discovery, scan = the live matcher."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.signal import resample_poly

from airtrack.catalog import Candidate, FileResult, discover, scan_plays
from airtrack.catalog.files import tags_from_name, truncated
from airtrack.demo.catalog import demo_catalog, encode_audio
from airtrack.demo.music import render_song
from airtrack.fingerprint import Index, fingerprint_samples, pack_prints, scan_file

word = (
    st.text(alphabet=st.characters(categories=["L", "N"], include_characters=" '&()"), min_size=1)
    .map(str.strip)
    .filter(lambda s: s and "." not in s)
)


@given(artist=word, title=word)
def test_artist_dash_title_file_names_split(artist: str, title: str) -> None:
    assert tags_from_name(f"some/dir/{artist} - {title}.mp3") == (title, artist)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a/Just A Title.ogg", ("Just A Title", None)),
        ("Artist - Title - Live.flac", ("Title - Live", "Artist")),
        ("01 - Artist - Title.mp3", ("Title", "Artist")),
        ("03 - Title.mp3", ("Title", "03")),
        (" - Title.mp3", ("- Title", None)),
        ("Artist-Title.wav", ("Artist-Title", None)),
        ("x/Ünïcødé – Straße.mp3", ("Ünïcødé – Straße", None)),
    ],
)
def test_tags_from_name(path: str, expected: tuple[str, str | None]) -> None:
    assert tags_from_name(path) == expected


def test_discover_keeps_paths_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ["lib/b.mp3", "lib/a.flac", "lib/sub/c.OGG", "lib/sub/cover.png", "one.wav"]:
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_bytes(b"x")
    os.mkfifo("lib/fifo.mp3")
    os.symlink("nowhere.mp3", "lib/dangling.mp3")
    found = list(discover(["./lib/", "one.wav", "nope", "lib/sub/c.OGG"]))
    assert found == [
        Candidate("./lib/a.flac", "./lib/a.flac"),
        Candidate("./lib/b.mp3", "./lib/b.mp3"),
        FileResult("./lib/dangling.mp3", "failed", "no such file or directory"),
        FileResult("./lib/fifo.mp3", "failed", "not a regular file"),
        Candidate("./lib/sub/c.OGG", "./lib/sub/c.OGG"),
        FileResult("./lib/sub/cover.png", "ignored", "not an audio file type"),
        Candidate("one.wav", "one.wav"),
        FileResult("nope", "failed", "no such file or directory"),
        Candidate("lib/sub/c.OGG", "lib/sub/c.OGG"),
    ]


def test_scan_plays_is_scan_file(tmp_path: Path) -> None:
    """The CLI's scan loop (with progress) gives exactly what ``scan_file`` gives."""
    specs = demo_catalog(2)
    sr = 22050
    songs = [render_song(s.seed, 20.0, sr) for s in specs]
    index = Index.build(
        (i + 10, pack_prints(fingerprint_samples(resample_poly(a, 160, 441))))
        for i, a in enumerate(songs)
    )
    gap = np.zeros(sr * 3, np.float32)
    rec = encode_audio(tmp_path / "rec.mp3", np.concatenate([gap, songs[1], songs[0]]), sr, "mp3")
    seen: list[float] = []
    plays = scan_plays(rec, index, on_progress=seen.append)
    assert plays == scan_file(rec, index)
    assert [p.track_id for p in plays] == [11, 10]
    assert seen == sorted(seen) and seen[-1] == pytest.approx(43.0, abs=0.2)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_folder_and_file(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.mp3").write_bytes(b"x")
    secret = tmp_path / "secret.mp3"
    secret.write_bytes(b"x")
    locked.chmod(0)
    secret.chmod(0)
    try:
        found = list(discover([str(tmp_path)]))
    finally:
        locked.chmod(0o755)
    assert FileResult(str(locked), "failed", "permission denied") in found
    assert Candidate(str(secret), str(secret)) in found  # hashing it reports the denial


seconds = st.floats(min_value=0, max_value=36_000, allow_nan=False)


@given(decoded=seconds, announced=seconds, more=seconds)
def test_truncated_is_monotonic_and_never_flags_a_whole_file(
    decoded: float, announced: float, more: float
) -> None:
    """``catalog add`` and ``scan`` share this rule."""
    assert not truncated(announced, announced)  # all of it decoded
    assert not truncated(decoded, None) and not truncated(decoded, 0.0)  # nothing announced
    if truncated(decoded + more, announced):  # less audio can only be worse
        assert truncated(decoded, announced)
    if truncated(decoded, announced):
        assert decoded < announced
