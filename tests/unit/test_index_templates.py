"""Every track's template stored in the index file, read by track (its rows only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from airtrack.fingerprint import Index, fingerprint_samples, pack_prints, template
from airtrack.fingerprint import params as P
from airtrack.fingerprint.index import _ALIGN, _MAGIC
from airtrack.fingerprint.lineprobe import scan_prints, track_peaks
from airtrack.fingerprint.template import bin_hz, template_peaks
from bench.add_templates import main as add_templates
from tests.unit._synth_music import song


@pytest.fixture(scope="module")
def blobs() -> list[tuple[int, bytes]]:
    return [(10 + i, pack_prints(fingerprint_samples(song(720 + i, 12)))) for i in range(3)]


def _without_templates(index: Index) -> Index:
    index._templates = None  # as a file written before the index stored them
    return index


def _brute(index: Index, track: int) -> tuple[np.ndarray, np.ndarray]:
    """The template as the pass over all postings gives it (the reference)."""
    return template_peaks(*scan_prints(index, track))


@pytest.mark.parametrize("group", [1 << 22, 1000])
def test_built_templates_are_the_peaks_the_pass_over_all_postings_finds(
    blobs: list[tuple[int, bytes]], group: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(template, "_GROUP", group)  # 1000: a group per track
    index = Index.build(blobs)
    assert index.has_templates
    for k in range(index.n_tracks):
        t, q = index.template(k)
        want_t, want_q = _brute(index, k)
        assert t.size > 100
        np.testing.assert_array_equal(t, want_t)
        np.testing.assert_array_equal(q, want_q)
        frames, hz = track_peaks(index, k)
        np.testing.assert_array_equal(frames, want_t.astype(np.float64))
        np.testing.assert_array_equal(hz, bin_hz(want_q))
    # a peak's bin is a byte: every frequency a hash can give
    assert index.template(0)[1].dtype == np.uint8


def test_save_load_round_trip_with_and_without_templates(
    blobs: list[tuple[int, bytes]], tmp_path: Path
) -> None:
    index = Index.build(blobs)
    index.save(tmp_path / "with.atix")
    got = Index.load(tmp_path / "with.atix")
    assert got.has_templates
    for k in range(index.n_tracks):
        for have, need in zip(got.template(k), index.template(k), strict=True):
            np.testing.assert_array_equal(have, need)
    _without_templates(Index.build(blobs)).save(tmp_path / "old.atix")
    old = Index.load(tmp_path / "old.atix")
    assert not old.has_templates
    assert old.n_hashes < P.LINE_SCAN_MAX_POSTINGS  # small: the pass still gives the template
    for k in range(index.n_tracks):
        np.testing.assert_array_equal(track_peaks(old, k)[0], index.template(k)[0])


def test_a_tracks_template_is_read_from_its_own_rows_only(
    blobs: list[tuple[int, bytes]], tmp_path: Path
) -> None:
    """The other tracks' template rows overwritten in the file: track 1's still right."""
    index = Index.build(blobs)
    path = tmp_path / "index.atix"
    index.save(path)
    raw = path.read_bytes()
    size = int.from_bytes(raw[len(_MAGIC) : len(_MAGIC) + 8], "little")
    layout = json.loads(raw[len(_MAGIC) + 8 : len(_MAGIC) + 8 + size])["arrays"]
    base = -(-(len(_MAGIC) + 8 + size) // _ALIGN) * _ALIGN
    offsets = index._templates[0] if index._templates else None
    assert offsets is not None
    lo, hi = int(offsets[1]), int(offsets[2])
    buf = bytearray(raw)
    for name in ("template_t", "template_q"):
        dtype, (n,), off = layout[name]
        width = np.dtype(dtype).itemsize
        for a, b in ((0, lo), (hi, n)):
            start = base + off
            buf[start + a * width : start + b * width] = b"\xa5" * ((b - a) * width)
    path.write_bytes(bytes(buf))
    got = Index.load(path)
    for have, need in zip(got.template(1), index.template(1), strict=True):
        np.testing.assert_array_equal(have, need)
    assert not np.array_equal(got.template(0)[0], index.template(0)[0])  # it was overwritten


def test_an_index_without_templates_above_the_limit_gives_an_empty_template(
    blobs: list[tuple[int, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _without_templates(Index.build(blobs))
    monkeypatch.setattr(P, "LINE_SCAN_MAX_POSTINGS", index.n_hashes - 1)
    t, f = track_peaks(index, 1)
    assert t.size == 0 and f.size == 0
    built = Index.build(blobs)  # one that stores them reads them whatever its size
    assert track_peaks(built, 1)[0].size == built.template(1)[0].size > 0


def test_add_templates_gives_an_old_file_the_templates_build_gives(
    blobs: list[tuple[int, bytes]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = Index.build(blobs)
    _without_templates(Index.build(blobs)).save(tmp_path / "old.atix")
    # groups of a few hundred postings: several groups, a track alone in one
    assert add_templates([str(tmp_path / "old.atix"), "--out", str(tmp_path / "new.atix"),
                          "--group", "700"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["peaks"] == index._templates[1].size  # type: ignore[index]
    got = Index.load(tmp_path / "new.atix")
    for name in ("starts", "keys", "times", "track_ids", "durations"):
        np.testing.assert_array_equal(getattr(got, name), getattr(index, name))
    assert got._density_saved and got.version == index.version
    for k in range(index.n_tracks):
        for have, need in zip(got.template(k), index.template(k), strict=True):
            np.testing.assert_array_equal(have, need)
