"""Demo catalog: stable names, distinct seeds, tagged files every supported format decodes."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from airtrack.demo.catalog import demo_catalog, encode_audio, other_song, write_catalog
from airtrack.demo.music import render_song

SR = 22050


def test_catalog_is_stable_and_prefix_consistent() -> None:
    a, b = demo_catalog(12), demo_catalog(20)
    assert a == b[:12]
    assert len({s.name for s in b}) == 20
    assert len({s.seed for s in b}) == 20
    assert len({(s.title, s.artist) for s in b}) >= 18
    assert all(90 <= s.duration_s <= 150 for s in b)
    # Songs that are not in the catalog never share a seed with it.
    assert not {other_song(i).seed for i in range(100)} & {s.seed for s in b}


@pytest.mark.parametrize("fmt", ["mp3", "ogg", "flac", "wav"])
def test_encoded_files_decode_with_tags(tmp_path: Path, fmt: str) -> None:
    audio = render_song(11, 4.0, SR)
    path = encode_audio(
        tmp_path / f"x.{fmt}", audio, SR, fmt, title="Paper Orbit", artist="Yuki Tamura"
    )  # type: ignore[arg-type]
    with av.open(str(path)) as c:
        tags = {k.lower(): v for k, v in c.metadata.items()}
        tags.update({k.lower(): v for k, v in c.streams.audio[0].metadata.items()})
        assert tags.get("title") == "Paper Orbit"
        assert tags.get("artist") == "Yuki Tamura"
        n = sum(f.samples for f in c.decode(audio=0))
        rate = c.streams.audio[0].rate
    assert abs(n / rate - 4.0) < 0.15


def test_write_catalog_writes_named_files(tmp_path: Path) -> None:
    paths = write_catalog(tmp_path / "cat", 1, fmt="wav")
    specs = demo_catalog(1)
    assert [p.name for p in paths] == [f"{s.name}.wav" for s in specs]
    with av.open(str(paths[0])) as c:
        assert c.metadata.get("title") == specs[0].title
        pcm = np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])
    assert abs(len(pcm) / SR - specs[0].duration_s) < 0.05
    ref = specs[0].render(SR)
    got = pcm.astype(np.float64) / 32768.0
    assert np.corrcoef(got[: len(ref)], ref[: len(got)])[0, 1] > 0.999
