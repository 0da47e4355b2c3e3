"""The song's template (``airtrack.fingerprint.lineprobe``) from a track's prints."""

from __future__ import annotations

import numpy as np

from airtrack.fingerprint import Index, fingerprint_samples, pack_prints
from airtrack.fingerprint import params as P
from airtrack.fingerprint.lineprobe import track_peaks
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
