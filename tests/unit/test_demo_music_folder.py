"""`airtrack demo --music DIR`: stations play the user's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from airtrack.demo.catalog import encode_audio, music_catalog
from airtrack.demo.music import render_song
from airtrack.demo.playout import Programme, ProgrammeConfig

SR = 22050


def test_music_folder_becomes_a_station_catalog(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    encode_audio(
        tmp_path / "a.mp3", render_song(11, 30.0, SR), SR, "mp3", title="Alpha", artist="Ann"
    )
    encode_audio(tmp_path / "sub" / "Bob - Beta.flac", render_song(12, 30.0, SR), SR, "flac")
    (tmp_path / "broken.mp3").write_bytes(b"not audio at all" * 100)
    (tmp_path / "notes.txt").write_text("ignored")
    specs = music_catalog(tmp_path)
    assert [(s.title, s.artist) for s in specs] == [("Alpha", "Ann"), ("Bob - Beta", "")]
    assert all(s.path and 29 < s.duration_s < 31 for s in specs)
    audio = specs[0].render(SR)
    assert abs(len(audio) / SR - 30.0) < 0.5 and float(np.abs(audio).max()) > 0.05

    prog = Programme(5, specs, ProgrammeConfig(snr_db=40.0))
    prog.read(SR * 240)
    titles = {a.title for a in prog.airings() if a.kind == "song"}
    assert titles and titles <= {"Alpha", "Bob - Beta"}
