"""Play bookkeeping: the airings a matcher has on air, where each one started, when it ends.

An airing starts at its alignment (the track's frame 0) when its first run of hits comes
≤ ``snap`` frames after it (an intro lost under noise or a DJ) or when the track holds too few
prints before it to expect a hit, unless that start reaches back over another airing heard
then; otherwise ``_LEAD_S`` before the first run of hits (a mid-way start).  Where the song
is faint its own template, read in the recent audio (:mod:`~airtrack.fingerprint.lineprobe`),
moves a start to a frame 0 it is heard from and an end on.  Its alignment
follows a slow drift (a speed between two grid speeds) and jumps with the song (a radio
edit); its evidence ends at the last dense anchor on it, and it closes when it has had none
for ``end_gap`` frames, or at once when the song restarts.  Closed airings are remembered a
while so their tail cannot reopen them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from airtrack.fingerprint import params as P
from airtrack.fingerprint.evidence import FINE, Candidate, HitStore, confidence_of
from airtrack.fingerprint.index import Index
from airtrack.fingerprint.lineprobe import LineProbe, reach_back
from airtrack.fingerprint.plays import PlayEnded, PlayEvent, PlayStarted
from airtrack.fingerprint.sortstats import distinct, distinct_count, median

__all__ = ["Airings", "OpenPlay"]

_FPS = P.FRAMES_PER_S
#: An airing's start snaps back to the track's frame 0 when the hits missing before the
#: first one are fewer than this (the intro holds few prints, or a DJ talked over it).
_SNAP_EXPECTED = 4.0
_MAX_SNAP_S = 30.0
_LEAD_S = 1.0
#: An anchor on a play's alignment counts as evidence that the song is still on air only
#: when ``_SUPPORT`` anchors (itself included) lie on that alignment within the
#: ``_SUPPORT_S`` around it.  A single chance hit near the line, which comes every few
#: seconds on a busy station, then no longer keeps a play running for ``end_gap`` more
#: (station E of the benchmark: a repeat ran 24 s past its audible end on them).
_SUPPORT = 3
_SUPPORT_S = 2.0
#: The last anchor lies this far before the audible end, on average (an anchor is the
#: first peak of its pairs; the bench's median signed end error calibrates it).
_END_PAD_S = 0.5
#: Two airings may overlap by a crossfade: a snapped start may reach this far back into
#: the previous airing, and a play whose line stopped at most this long after another line
#: of its track began has jumped (a splice, a rewind, a repeat), not repeated a section.
XFADE_S = 3.0
#: A gap in a line's anchors longer than this separates runs of evidence (see _first_dense).
_RUN_GAP_S = 3.0
#: Anchors a run after such a gap needs before it carries an open play on (see resumes).
_RESUME = 2 * _SUPPORT


@dataclass(slots=True)
class OpenPlay:
    track: int
    k: int  # speed index
    align: float  # frames; drifts slowly when the true speed lies between grid speeds
    start_f: float
    offset_f: float
    first: float  # first anchor of the run that opened it
    last_hit: float  # last *supported* anchor (see ``_SUPPORT``)
    confidence: float
    hits: int
    #: set when the play followed a forward rival of a line that went back (see
    #: :meth:`Airings.jump`): (frame the followed run began, k, align, last_hit before it)
    undo: tuple[float, int, float, float] | None = None


class Airings:
    """The airings on air and the recently closed ones, in frames of the query."""

    def __init__(
        self, index: Index, speeds: npt.NDArray[np.float64], *, window: float, end_gap: float,
        snap: float, probe: LineProbe | None = None,
    ) -> None:  # fmt: skip
        self.index = index
        #: sensitive evidence on a play's line from the recent audio (none on replayed prints)
        self._probe = probe
        self._speeds = speeds
        self._window = window
        self._end_gap = end_gap
        self._snap = snap
        self.open: list[OpenPlay] = []
        self.closed: list[OpenPlay] = []
        #: set by :meth:`jump` for the next :meth:`start`: the restarted line's anchors
        #: before this frame belong to the airing that just ended
        self.restart_floor: float | None = None
        #: set with it when a follow was undone: the new airing's run began there
        self.restart_at: float | None = None
        self._restarting = False

    def follow(self, hits: HitStore) -> None:
        """Extend each open airing by its new hits (last hit, count, drift, confidence)."""
        span = _SUPPORT_S * _FPS
        for play in self.open:
            # only hits after ``last_hit - window`` can matter (the store is sorted by time),
            # and only those on the play's line (found without reading the chance hits)
            start = hits.after(play.last_hit - max(self._window, span))
            near = hits.line(start, play.track, play.k, play.align)
            ht = hits.t[near]
            newer = ht > play.last_hit
            if not newer.any():
                continue
            anchors = distinct(ht).astype(np.float64)
            last = last_supported(anchors)
            if last <= play.last_hit or not resumes(anchors, play.last_hit):
                continue
            play.hits += int(np.count_nonzero(newer & (ht <= last)))
            play.last_hit = last
            # let the alignment follow a slow drift (speed between two grid speeds)
            recent = (ht > play.last_hit - self._window) & (ht <= last)
            if recent.sum() >= 5:
                al = hits.a[near]
                play.align = median(al[recent])
                fine = recent & (np.abs(al - play.align) <= FINE)
                evidence = distinct_count(ht[fine])
                play.confidence = max(play.confidence, confidence_of(float(evidence)))

    def _anchors(self, hits: HitStore, cand: Candidate) -> npt.NDArray[np.float64]:
        near = hits.line(hits.lo, cand.track, cand.k, cand.align)
        ht, ha = hits.t[near], hits.a[near]
        # the airing's anchors: on the alignment line itself (a drift of ≤ 0.5 % moves it
        # ≤ 1.3 frames over a window), so chance hits near the line do not count
        fine = np.abs(ha - cand.align) <= FINE + 1
        return distinct(ht[fine] if fine.any() else ht).astype(np.float64)

    def heard(self, now: float) -> list[tuple[int, float]]:
        """(track, frame) per open airing: the track's hits up to that frame are the
        airing's — all of them while its own line carried evidence in the last
        ``_SUPPORT_S``, else those up to its last evidence."""
        return [
            (p.track, np.inf if p.last_hit > now - _SUPPORT_S * _FPS else p.last_hit)
            for p in self.open
        ]

    def jump(self, play: OpenPlay, cand: Candidate, hits: HitStore, now: float) -> str:
        """How a new alignment ``cand`` of an on-air track relates to ``play``.

        "section" while ``play``'s line still carries hits, or when ``cand``'s line stopped
        with it (a repeated section, a neighbouring speed): nothing happened.  Otherwise
        "follow" (one airing, the play follows ``cand``) when ``cand``'s line ran beside it
        since the airing began (the play had taken the wrong one of a repeated section's
        positions) or goes on at a later point in the song (a radio edit's splice, a stream
        that resumed after a gap; of a repeated section's positions, the nearest forward one
        is taken); "restart" when the song went back (a repeat, a DJ rewind): two airings.
        """
        if play.last_hit > now - _SUPPORT_S * _FPS:
            return "section"
        t = self._anchors(hits, cand)
        d = dense(t)
        first, last = float(d[0] if d.size else t[0]), last_supported(t)
        if last <= play.last_hit + _SUPPORT_S * _FPS:
            return "section"  # it stopped with the play's line: the same audio, ended
        xfade = XFADE_S * _FPS
        horizon = float(hits.t[hits.lo]) + xfade
        beside = first < play.last_hit - xfade and first <= max(play.first + xfade, horizon)
        speed_new = float(self._speeds[cand.k])
        pos_old = (play.last_hit - play.align) * float(self._speeds[play.k])
        # positions are compared where the new line goes on past the old one's end
        at = max(first, play.last_hit)
        forward = [a for a in (cand.rivals or (cand.align,)) if (at - a) * speed_new > pos_old]
        if beside or forward:
            if not beside and max(forward) < cand.align:
                # the same audio also reads as the song going back (a rewind into a stretch
                # it repeats later): which one it was shows only when the two copies
                # diverge, so remember where the play stood to undo the follow then
                play.undo = (first, play.k, play.align, play.last_hit)
            play.k, play.align = cand.k, (cand.align if beside else max(forward))
            play.last_hit = max(play.last_hit, last)
            return "follow"
        self._restarting = True
        self.restart_floor = None
        self.restart_at = None
        run = _first_dense(t)
        if play.undo is not None and play.undo[0] - xfade <= run <= play.undo[0] + self._window:
            # the song went back, and the run of hits that shows it began with the last
            # follow: that follow read a rewind into a stretch the song repeats as a jump
            # forward to a later copy, so both plays turn where the followed run began.
            # (The line that shows it can be a third copy, whose run began only where the
            # first two diverged; engine v2 reads the big buckets a repeated stretch fills,
            # so every copy's line is as strong as the rewound one: on station E the turn
            # came 5 s late, at the divergence.)
            self.restart_at, play.k, play.align, play.last_hit = play.undo
            self.restart_floor = self.restart_at - 0.5
            return "restart"
        if first < play.last_hit - xfade:
            # the new line ran beside the play: a rewind into a stretch the song repeats
            # sounds like the song going on until the two diverge, so both lines carry
            # hits there.  Before the rewind the new line's song time held other audio, so
            # its run of hits that goes on now began at the rewind: the new play starts
            # there (``_LEAD_S`` before that run, as any start) and the old one ends there.
            # (Its earlier runs, a repeated section heard in the play, are the play's.)
            if run < play.last_hit:
                self.restart_floor = run - 0.5
                play.last_hit = run - (_LEAD_S + _END_PAD_S) * _FPS
            else:
                self.restart_floor = play.last_hit
        return "restart"

    def start(self, hits: HitStore, cand: Candidate) -> PlayStarted:
        """Open an airing for ``cand``; its start and offset come from its first anchors."""
        track, k, align = cand.track, cand.k, cand.align
        t = self._anchors(hits, cand)
        if self.restart_floor is not None:
            t = t[t > self.restart_floor] if (t > self.restart_floor).any() else t
            self.restart_floor = None
        plain = self.restart_at is None and not self._restarting
        first = _first_dense(t) if self.restart_at is None else self.restart_at
        self.restart_at = None
        speed = float(self._speeds[k])
        # a start snapped back to the song's beginning cannot reach into an airing that was
        # still heard then (beyond a crossfade): the song was joined mid-way after it
        before = [p.last_hit for p in (*self.open, *self.closed) if p.first < first]
        floor = max(before, default=-np.inf) - XFADE_S * _FPS
        snap = first - align <= self._snap or self._intro_unheard(track, speed, align, first, t)
        # a restart went back to a point the song had just played: no intro was missed
        snap = snap and not self._restarting
        self._restarting = False
        reach = first
        if plain:
            align, reach, heard_from_0 = self._reach_back(
                cand, speed, first, floor, own=not (snap and align >= floor)
            )
            snap = snap or heard_from_0
        # the first hit lags the first sound (a fade-in; an anchor needs its partners)
        start = max(0.0, reach if reach < first else first - _LEAD_S * _FPS)
        if reach < first:
            start = max(start, floor)  # never over another airing heard then
        if snap and align >= floor:
            start = max(0.0, align)
        play = OpenPlay(
            track=track,
            k=k,
            align=align,
            start_f=start,
            offset_f=max(0.0, (start - align) * speed),
            first=first,
            last_hit=max(first, last_supported(t)),
            confidence=confidence_of(cand.evidence),
            hits=int(t.shape[0]),
        )
        self.open.append(play)
        return PlayStarted(
            int(self.index.track_ids[track]),
            play.start_f / _FPS,
            play.confidence,
            play.offset_f / _FPS,
            speed,
        )

    def _reach_back(
        self, cand: Candidate, speed: float, first: float, floor: float, own: bool
    ) -> tuple[float, float, bool]:
        """(alignment, reach, heard from its frame 0) of a new airing whose first run of
        hits began at ``first``, from sensitive evidence on its line before that run (see
        :mod:`~airtrack.fingerprint.lineprobe`).

        Of a repeated section's positions the earliest in the song was chosen; the latest
        one (the chosen one included) whose template is heard without a break from its
        frame 0 (within ``LINE_SNAP_S``) up to that run was on air (a song that repeats
        its quiet intro, heard faintly from its start), and the play starts there.  Stray
        notes of another copy's line before a join come with gaps the run does not
        bridge: a song joined in a section it repeats does not start at another copy's
        frame 0."""
        align = cand.align
        if self._probe is None:
            return align, first, False
        lookback = _MAX_SNAP_S * _FPS
        to_snap = P.LINE_SNAP_S * _FPS
        positions = {a: to_snap for a in {*cand.rivals, align}}
        # the positions the track's own repeats give, which the hits may not show yet (a
        # song whose opening comes again: its first run of hits can fall on the later
        # copy's line, the opening's own evidence too weak against a big catalog's); not
        # when the chosen line's frame 0 is the start already (the song's beginning)
        for lag in self._probe.repeats(cand.track) if own else ():
            positions.setdefault(align + lag / speed, P.LINE_REPEAT_SNAP_S * _FPS)
        # each position, the chosen one too, latest in the song (earliest alignment) first
        for a in sorted(positions):
            if a < floor or first - a > lookback or a > first or (a == align and not own):
                continue  # (a start that snaps to the chosen frame 0 anyway)
            # the windows that can place the start within the snap first: the whole
            # stretch up to the run only where one of them is heard
            head = a + positions[a] + _FPS
            if head < first:
                ev = self._probe.evidence(cand.track, speed, a, a - _FPS, head, steady=True)
                if not ev.heard.any():
                    continue
            ev = self._probe.evidence(cand.track, speed, a, a - _FPS, first + _FPS, steady=True)
            reach = reach_back(ev, first)
            if reach - a <= positions[a]:
                return a, reach, True
        # A mid-way start: reached back along its one line only when the song was heard
        # there for LINE_MID_REACH_S before its first run (its first hits came late: a DJ
        # over it, a big catalog's chance hits), never before what aired before it.  A
        # shorter reach is not taken: a song that fades in under the end of what came
        # before is heard seconds before its audible start (station B: 3.6 s early); nor
        # where the run fits several copies (the audio before it may be another copy's)
        need = first - P.LINE_MID_REACH_S * _FPS
        # (a reach lies 3/4 of a window into the earliest heard one: that window must start
        # after what aired before and after the track's frame 0)
        room = need - 0.75 * P.LINE_WIN_S * _FPS >= max(floor, align)
        if own and room and set(cand.rivals) <= {align}:
            # the windows just before the run first (a window's values are its own: the
            # run that reaches ``need`` is heard there too), the whole look back only then
            near = need - 0.75 * P.LINE_WIN_S * _FPS - _FPS
            for lo in (near, first - lookback):
                lo = max(lo, floor, align)
                ev = self._probe.evidence(cand.track, speed, align, lo, first + _FPS, steady=True)
                reach = reach_back(ev, first)
                if reach > need:
                    break
            else:
                return align, reach, False
        return align, first, False

    def _intro_unheard(
        self, track: int, speed: float, align: float, first: float, anchors: npt.NDArray[np.float64]
    ) -> bool:
        """Did the airing likely start at the track's frame 0, its first part unheard?

        True when the track's prints before the first hit are so few, given the hit rate
        seen since, that hearing none of them is unsurprising (a quiet intro, a DJ over it).
        """
        gap = first - align
        if gap > _MAX_SNAP_S * _FPS:
            return False
        ref_first = gap * speed
        ref_last = (float(anchors[-1]) - align) * speed
        seen = float(np.count_nonzero(anchors >= first))
        ref_seen = self.index.prints_between(track, ref_first, ref_last + 1)
        ref_gap = self.index.prints_between(track, 0.0, ref_first)
        rate = min(1.0, seen / max(1.0, float(ref_seen)))
        return ref_gap * rate < _SNAP_EXPECTED

    def end(self, now: float, frames_fed: float, force: bool) -> list[PlayEvent]:
        """Close the airings silent for ``end_gap`` frames at ``now`` (all when ``force``)."""
        events: list[PlayEvent] = []
        for play in list(self.open):
            if force or now - play.last_hit > self._end_gap:
                events.append(self.close(play, frames_fed, self._reach_on(play, frames_fed)))
        return events

    def _reach_on(self, play: OpenPlay, frames_fed: float) -> float:
        """Where sensitive evidence on ``play``'s line goes on after its last dense anchor
        (a voice over the song's outro), never past the first run of an airing that began
        after it."""
        if self._probe is None:
            return play.last_hit
        speed = float(self._speeds[play.k])
        later = [p.first for p in (*self.open, *self.closed) if p.first > play.last_hit]
        need = play.last_hit + P.LINE_MIN_REACH_S * _FPS  # a reach must pass this to count
        hi = min(frames_fed, play.last_hit + P.LINE_END_S * _FPS)
        # Skip the template where it cannot change the end (most ends: it costs a spectrum
        # of the held audio and the track's prints): no window could be read past ``need``
        # (the last one ends by ``hi`` and is read a quarter inside), the next airing
        # began before it, or the song runs out within the end's pad anyway.
        top = min(hi - 0.75 * P.LINE_WIN_S * _FPS + 1, min(later, default=np.inf))
        track_end = play.align + float(self.index.durations[play.track]) * _FPS / speed
        if top <= need or track_end <= play.last_hit + _END_PAD_S * _FPS:
            return play.last_hit
        reach = self._probe.reach_on(play.track, speed, play.align, play.last_hit, hi)
        reach = min(reach, max(play.last_hit, min(later, default=np.inf)))
        # no further than the usual end, give or take: that one stays
        return reach if reach > need else play.last_hit

    def close(self, play: OpenPlay, frames_fed: float, reach: float = -np.inf) -> PlayEnded:
        """End ``play`` where its evidence stopped (or its sensitive evidence ``reach``),
        never past its song's length."""
        speed = float(self._speeds[play.k])
        track_end = play.align + float(self.index.durations[play.track]) * _FPS / speed
        end = min(max(play.last_hit, reach) + _END_PAD_S * _FPS, track_end, frames_fed)
        self.open.remove(play)
        self.closed.append(play)
        return PlayEnded(
            int(self.index.track_ids[play.track]),
            play.start_f / _FPS,
            max(end, play.start_f) / _FPS,
            play.confidence,
            play.offset_f / _FPS,
            speed,
        )

    def forget_closed(self, horizon: float) -> None:
        """Drop closed airings whose last hit is before ``horizon`` (their hits are gone)."""
        self.closed = [p for p in self.closed if p.last_hit > horizon]


def last_supported(t: npt.NDArray[np.float64]) -> float:
    """Where the evidence in the sorted anchor frames ``t`` stops, or ``-inf``: the last
    dense anchor (see :func:`dense`), carried on through anchors that follow it at most
    ``_SUPPORT_S / 2`` apart (a song's last notes are sparse; a chance hit after the song
    stopped stands alone, and one seconds later is not reached)."""
    d = dense(t)
    if d.size == 0:
        return -np.inf
    i = int(np.searchsorted(t, d[-1]))
    tail = t[i:]
    breaks = np.flatnonzero(np.diff(tail) > _SUPPORT_S * _FPS / 2)
    return float(tail[int(breaks[0])] if breaks.size else tail[-1])


def resumes(t: npt.NDArray[np.float64], last_hit: float) -> bool:
    """Whether the sorted anchor frames ``t`` carry a line on past ``last_hit``: their
    dense anchors after it go on from it, or, after a gap over ``_RUN_GAP_S``, hold
    ``_RESUME`` anchors from the first of them on (a cluster of a few chance hits seconds
    after the song stopped, seen in speech like the song's harmonics, does not hold a play
    open; a song back after a talk-over soon brings more).  No dense anchor after it: the
    run's own sparse tail, which :func:`last_supported` carries."""
    d = dense(t)
    new = d[d > last_hit]
    if not new.size or new[0] - last_hit <= _RUN_GAP_S * _FPS:
        return True
    return int(np.count_nonzero(t >= new[0] - _SUPPORT_S * _FPS / 2)) >= _RESUME


def dense(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The sorted anchor frames ``t`` that have ``_SUPPORT`` anchors (themselves included)
    within ``_SUPPORT_S / 2`` either side: a line's evidence, without its chance hits."""
    half = _SUPPORT_S * _FPS / 2
    count = np.searchsorted(t, t + half, "right") - np.searchsorted(t, t - half, "left")
    out: npt.NDArray[np.float64] = t[count >= _SUPPORT]
    return out


def _first_dense(t: npt.NDArray[np.float64]) -> float:
    """First anchor of the run of evidence that led to the detection: the last stretch of
    dense anchors without a gap over ``_RUN_GAP_S`` (chance hits before it, seen on the demo
    station 4-10 s before a song began, do not move its start)."""
    d = dense(t)
    if d.size == 0:
        return float(t[0])
    gaps = np.flatnonzero(np.diff(d) > _RUN_GAP_S * _FPS)
    return float(d[int(gaps[-1]) + 1]) if gaps.size else float(d[0])
