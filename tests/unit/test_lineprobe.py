"""The song's template (``airtrack.fingerprint.lineprobe``) from a track's prints."""

from __future__ import annotations

import numpy as np

from airtrack.fingerprint import Index, fingerprint_samples, pack_prints
from airtrack.fingerprint import params as P
from airtrack.fingerprint.landmarks import LandmarkExtractor
from airtrack.fingerprint.lineprobe import LineProbe, SpectrumHistory, track_peaks
from airtrack.fingerprint.segments import SegmentedIndex
from tests.unit._synth_music import song


def test_a_tracks_template_is_its_prints_peaks_in_one_index_or_in_segments() -> None:
    """The worker's catalog is a segmented index, whose own posting arrays are empty: the
    template comes from the segment that holds the track, the same as from one index."""
    blobs = [
        (1, pack_prints(fingerprint_samples(song(701, 20)))),
        (2, pack_prints(fingerprint_samples(song(702, 20)))),
    ]
    whole = Index.build(blobs)
    parts = SegmentedIndex([Index.build(blobs[:1]), Index.build(blobs[1:])])
    for dense in (0, 1):
        t, f = track_peaks(whole, dense)
        assert t.size > 100
        assert t.min() >= 0 and t.max() <= 20 * P.FRAMES_PER_S + P.DT_MAX
        assert f.min() >= P.F_LO * 0.9 and f.max() <= P.F_HI * 1.5
        ts, fs = track_peaks(parts, dense)
        np.testing.assert_array_equal(ts, t)
        np.testing.assert_allclose(fs, f)
    assert not np.array_equal(track_peaks(whole, 0)[0], track_peaks(whole, 1)[0])


def test_a_tracks_repeats_are_read_from_its_template_in_one_index_or_in_segments() -> None:
    """A track whose first 12 s come again at once repeats 12 s on (as a start looks for
    it: ``LineProbe.repeats``), the same from the segment that holds it; one that does not
    repeat gives none."""
    x = song(703, 30)
    looped = np.concatenate([x[: 12 * P.SAMPLE_RATE], x])
    blobs = [
        (1, pack_prints(fingerprint_samples(song(704, 30)))),
        (2, pack_prints(fingerprint_samples(looped))),
    ]
    whole = Index.build(blobs)
    parts = SegmentedIndex([Index.build(blobs[:1]), Index.build(blobs[1:])])
    lags = LineProbe(whole, 10.0).repeats(1)
    assert any(abs(lag / P.FRAMES_PER_S - 12.0) < 0.1 for lag in lags), lags
    assert LineProbe(parts, 10.0).repeats(1) == lags
    assert LineProbe(whole, 10.0).repeats(0) == []


def test_the_held_spectrum_is_the_extractors_last_seconds_whatever_the_blocks() -> None:
    """The template reads the extractor's own log spectrum, its blocks held without a copy:
    after each block (short ones, and long ones), the rows held are the extractor's rows of
    the frames whose whole window lies in the last chunks, as they were computed (the
    extractor never writes them again)."""
    rng = np.random.default_rng(3)
    ext = LandmarkExtractor()
    every: list[np.ndarray] = []
    held = SpectrumHistory(6.0)

    def keep(frame: int, rows: np.ndarray) -> None:
        assert frame == sum(r.shape[0] for r in every)
        every.append(rows.copy())
        held.add_rows(frame, rows)

    ext.on_spectrum = keep
    fed = 0
    for n in (3000, 8000, 100, 32000, 90000, 5000, 200000, 64000, 777, 40000, 30000):
        held.append(n)
        ext.feed(rng.standard_normal(n).astype(np.float32))
        fed += n
        spectrum = np.concatenate(every)
        last = (fed - P.N_FFT) // P.HOP + 1
        assert spectrum.shape[0] == last
        first = held.first_frame
        a, rows = held.frames(0, last + 100)
        assert a == first and rows.shape[0] == last - first
        np.testing.assert_array_equal(rows, spectrum[first:])
        a, rows = held.frames(first + 7.5, last - 3)
        np.testing.assert_array_equal(rows, spectrum[first + 7 : last - 3])
