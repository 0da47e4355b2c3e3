"""Stored peaks: prints re-derived from them are bit-identical to prints from the audio."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.errors import AudioError
from airtrack.fingerprint import fingerprint_samples, pack_prints
from airtrack.fingerprint.peaks import (
    Peaks,
    fingerprint_samples_with_peaks,
    pack_peaks,
    prints_from_peaks,
    unpack_peaks,
)
from tests.unit._synth_music import noise, song


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 50), seconds=st.floats(3.0, 20.0), noisy=st.booleans())
def test_prints_from_stored_peaks_are_bit_identical(seed: int, seconds: float, noisy: bool) -> None:
    x = song(seed, seconds)
    if noisy:
        x = noise(x, 10, seed=seed)
    prints, peaks = fingerprint_samples_with_peaks(x)
    # keeping the peaks changes nothing in what the extractor makes
    assert pack_prints(prints) == pack_prints(fingerprint_samples(x))
    back = unpack_peaks(pack_peaks(peaks))
    assert np.array_equal(back.t, peaks.t) and np.array_equal(back.lnf, peaks.lnf)
    assert pack_prints(prints_from_peaks(back)) == pack_prints(prints)
    # compact: well under the prints they make
    assert len(pack_peaks(peaks)) < len(pack_prints(prints)) / 2 + 64


@settings(max_examples=50, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 200_000), max_size=300),
    seconds=st.floats(0, 1e5, width=32),
)
def test_pack_unpack_round_trip_any_peaks(gaps: list[int], seconds: float) -> None:
    t = np.cumsum(np.array(gaps, np.int64), dtype=np.int64)
    lnf = np.random.default_rng(len(gaps)).uniform(5.5, 8.3, len(gaps)).astype(np.float32)
    back = unpack_peaks(pack_peaks(Peaks(t, lnf, seconds)))
    assert np.array_equal(back.t, t) and np.array_equal(back.lnf, lnf)
    assert back.duration_s == seconds


def test_unpack_refuses_garbage_and_other_versions() -> None:
    good = pack_peaks(Peaks(np.array([1, 5], np.int64), np.ones(2, np.float32), 1.0))
    other_version = good[:4] + (99).to_bytes(2, "little") + good[6:]
    truncated = good[:15] + zlib.compress(b"\0" * 3)
    for blob in (b"", b"xx", b"NOPE" + bytes(20), other_version, truncated, good[:-3]):
        with pytest.raises(AudioError):
            unpack_peaks(blob)
