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
#: another version need the audio again; a ``PRINTS_VERSION`` bump alone does not.  The
#: log10 of the spectrum is defined up to its last bit only (the platform's ``log10f``
#: through numpy, or the C extension's correctly rounded one): moving to the C log left
#: it at 1 (docs/design.md, "The log spectrum and the engine's versions").
PEAKS_VERSION = 1

# -- Sensitive evidence on one play's line, near its boundaries (airtrack.fingerprint.lineprobe).
# These change no print: they only decide how far a play's start and end reach.
#: The song's template is read in windows of LINE_WIN_S (every half second); a window holds
#: it when at least LINE_MIN_PEAKS of its peaks fall there and they stand LINE_Z standard
#: deviations (at least LINE_SD_FLOOR) and LINE_MARGIN (log10 power) above the template moved.
LINE_WIN_S = 4.0
LINE_MIN_PEAKS = 24
LINE_Z = 2.0
LINE_SD_FLOOR = 0.01
LINE_MARGIN = 0.12
#: The surroundings a spectrum cell is measured against (frames × bins).
#: A run of heard windows goes on through this much of unheard ones.
LINE_GAP_S = 1.5
LINE_BG_DT = 21
LINE_BG_DF = 31
#: An end moves only when the template reaches this much past where it would be
#: put anyway (window edges place a reach within a second or so; a usual end is
#: more exact).
LINE_MIN_REACH_S = 1.5
#: An end's run of heard windows also goes on through windows that lean the song's way
#: (LINE_MARGIN over the template moved, and LINE_CARRY_Z standard deviations), however
#: many, in a gap with at most LINE_CARRY_MISSES windows that do not lean (half a second
#: each): a voice over the outro spreads the moved template's means (z 1.4-1.9 over 2 s on
#: the bench) though the song is there, and leans its way nearly throughout; speech after a
#: song's end leans its way only now and then.  They carry a run to a heard window; they
#: never place an end themselves.
LINE_CARRY_Z = 1.0
LINE_CARRY_MISSES = 1
#: An end's template is looked for this far after its last dense anchor at most (a voice
#: over an outro: 10-12 s on the bench).
LINE_END_S = 16.0
#: Tracks whose template is kept, of an index that stores none (one pass over its postings
#: finds a track's prints).
LINE_CACHE = 64
#: An index that stores no templates (a file written before they were) is passed over for a
#: track's prints only up to this many postings (~1,200 tracks; ~0.7 s a track at 30,000):
#: above it the template is empty and the reach is off (the hits alone place boundaries).
LINE_SCAN_MAX_POSTINGS = 20_000_000
#: Audio (its log spectrum) kept for the look back and forward (s): a start's reach
#: (``_MAX_SNAP_S`` back from its first run, found up to a window and a step later) and an
#: end's (``end_gap_s`` on).
LINE_HISTORY_S = 48.0
#: A start that the template reaches back to within this of the track's frame 0 is put
#: there (its first notes fainter still).
LINE_SNAP_S = 3.0
#: ... and to within LINE_REPEAT_SNAP_S of the frame 0 of a position the track's own repeats
#: give (its first LINE_REPEAT_SPAN_S seconds come again, at least LINE_REPEAT_SHARE of their
#: template's peaks) when the hits have not shown that position yet: the song heard from
#: the first window read (1 s before that frame 0; a reach lies a quarter window inside it,
#: 2 s after that frame 0), give or take one step of windows
LINE_REPEAT_SNAP_S = 2.5
#: A mid-way start reaches back along its line only this far at least (the template heard
#: that long before the first run of hits)
LINE_MID_REACH_S = 4.0
LINE_REPEAT_SPAN_S = 30.0
LINE_REPEAT_SHARE = 0.15
