"""A song joined mid-way under a section it repeats starts where it was joined.

The demo station (programme seed 11, 20 dB SNR, 64 kbps MP3) joins demo-005 at 45.9 s, in a
section the song also plays from 10.4 s.  The run of hits that opens the play fits both
copies (and a third position), so the matcher cannot tell which was joined.  Chance hits of
the song before it (another song fading out) lie on the earlier copy's line, a few in the
10 s before it, some on the other copies' lines too; a start that reached back through
them snapped to that copy's frame 0, 11 s before the song began.  The start stays at the
run that opened the play.

The same case the slow ``test_demo_station_plays_are_recognised`` met in 8 minutes of the
station, here in its 86 s around that airing and against demo-005 alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.signal

from airtrack.demo.catalog import demo_catalog, encode_audio
from airtrack.demo.playout import Programme, ProgrammeConfig
from airtrack.fingerprint import Index, fingerprint_samples, pack_prints, scan_file

SR = 22050
#: the recording begins this far into the programme; it ends after the song
FROM_S, UNTIL_S = 100.0, 176.0
#: two items crossfade by up to 3 s; a start is put 1 s before its first dense anchor
XFADE_S, LATE_S = 3.0, 5.0


def test_a_join_under_a_repeated_section_does_not_start_at_an_earlier_copy(
    tmp_path: Path,
) -> None:
    catalog = demo_catalog(6)
    song = catalog[4]
    prog = Programme(11, catalog, ProgrammeConfig(snr_db=20.0))
    audio = prog.read(int(SR * UNTIL_S))[int(SR * FROM_S) :]
    aired = [a for a in prog.airings(until_s=UNTIL_S) if a.song_id == song.name]
    assert len(aired) == 1 and aired[0].offset_s > 40.0, aired  # joined mid-way
    truth = aired[0].start_s - FROM_S
    # the song's prints from its rendering (at the engine's 8 kHz): the station's copy of
    # it then matches at three positions, and chance hits of the song before it lie on the
    # earliest one's line
    ref = scipy.signal.resample_poly(song.render(SR), 160, 441).astype(np.float32)
    index = Index.build([(5, pack_prints(fingerprint_samples(ref)))])
    rec = encode_audio(tmp_path / "station.mp3", audio, SR, "mp3", bitrate=64_000)
    plays = scan_file(rec, index)
    assert len(plays) == 1, plays
    assert truth - XFADE_S <= plays[0].start_s <= truth + LATE_S, (truth, plays)
