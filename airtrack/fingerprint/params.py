"""Engine constants shared by the extractor, the index and the matcher.

Changing any of them changes every fingerprint: bump ``PRINTS_VERSION`` when you do, and
the catalog must be re-fingerprinted (the index refuses prints of another version).
"""

from __future__ import annotations

import math

#: Engine sample rate (Hz). 8 kHz keeps 0–4 kHz, where broadcast audio keeps its peaks.
SAMPLE_RATE = 8000
#: STFT window (samples) and hop (samples): 128 ms windows, 32 ms frames.  A 512-point
#: window (half the FFT and peak-picking work, scan 56-61 % of decode-only speed) was tried
#: and measured: it lost robustness on the noisy talk station (max start error 5.3 s, 1.03
#: rows/play, weakest true play 0.61), so the engine keeps 1024 points.
N_FFT = 1024
HOP = 256
FRAMES_PER_S = SAMPLE_RATE / HOP
#: Frequency band searched for peaks (Hz).
F_LO = 250.0
F_HI = 3800.0
#: Peak neighbourhood: a peak is the maximum of ±PEAK_DT frames × ±PEAK_DF bins (±109 Hz).
PEAK_DT = 10
PEAK_DF = 14
#: Peaks quieter than this (log magnitude over the frame median) are ignored.
PEAK_MIN_OVER_MEDIAN = 0.4
#: Absolute floor (log10 magnitude); silence yields no peaks.
PEAK_FLOOR = -2.5
#: Pairing: anchor → up to FANOUT later peaks within DT_MAX frames and ±DF_MAX (ln freq).
FANOUT = 5
DT_MAX = 63
DF_MAX = 0.75
#: Hash quantisation: ln(f1) in Q_F1 steps, ln(f2/f1) in Q_DF steps, dt in frames.
Q_F1 = 0.0215  # 128 steps span F_LO..F_HI
Q_DF = 0.015
F1_BITS = 7
DF_BITS = 7
DT_BITS = 6
HASH_BITS = F1_BITS + DF_BITS + DT_BITS
LN_F_LO = math.log(F_LO)
#: Speeds tried at query time (played speed / original speed): ±3 % in 1 % steps.
SPEEDS: tuple[float, ...] = (0.97, 0.98, 0.99, 1.0, 1.01, 1.02, 1.03)
#: Fine key (prints v2): a second feature of each pair (anchor a -> target b) from its
#: *sibling* target c (the anchor's next target, cyclic): ln(f_c/f_a) in Q_FDF steps and
#: dt_c in frames.  The index reads it only inside hash buckets too big to read whole,
#: so it splits the 20-bit hash where the catalog is dense and costs nothing elsewhere.
Q_FDF = 0.025  # 60 steps span ±DF_MAX
FDF_BITS = 6
FDT_BITS = 6
FINE_BITS = FDF_BITS + FDT_BITS
PRINTS_VERSION = 2
#: Version of the peak picker alone (STFT, band, neighbourhood, floors): stored peaks of
#: another version need the audio again; a ``PRINTS_VERSION`` bump alone does not.
PEAKS_VERSION = 1

# -- Sensitive evidence on one play's line, near its boundaries (airtrack.fingerprint.lineprobe).
# These change no print: they only decide how far a play's start and end reach.
#: Dense peaks: the maximum of ±LINE_PEAK_DT frames × ±LINE_PEAK_DF bins, this far (log10
#: magnitude) over the frame's mean.
LINE_PEAK_DT = 2
LINE_PEAK_DF = 2
LINE_PEAK_OVER_MEAN = 0.2
#: Dense pairs: every later dense peak up to this many frames away (90 % of prints are
#: closer) and within DF_MAX.
LINE_DT_MAX = 48
#: A dense pair agrees with a play's line when its track holds its hash this many frames or
#: fewer from the track frame the line predicts; those LINE_BG_S around it (beyond 10
#: frames) measure how often the track agrees by chance there.
LINE_TOL = 2
LINE_BG = 160
#: Buckets bigger than this are not read (a hash that common says nothing).
LINE_MAX_BUCKET = 4096
#: An agreement counts only when the track holds its hash at most this many times within
#: LINE_BG frames of the predicted frame (a held note repeats a hash: chance agrees there).
LINE_SPECIFIC = 1
#: A chain link: LINE_MIN agreeing anchors within LINE_SPAN_S; links at most LINE_GAP_S
#: apart.  Over the whole reach, agreeing anchors must be LINE_CONTRAST times what chance
#: gives on lines beside it.
LINE_MIN = 5
LINE_SPAN_S = 2.0
LINE_GAP_S = 2.0
LINE_CONTRAST = 1.5
#: Audio kept for the look back and forward (s): a start's reach (``_MAX_SNAP_S`` back from
#: its first run, found up to a window and a step later) and an end's (``end_gap_s`` on).
LINE_HISTORY_S = 48.0
#: A start that sensitive evidence reaches back to within this of the track's frame 0 is
#: put there (its first notes fainter still).
LINE_SNAP_S = 3.0
