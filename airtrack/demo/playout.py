"""A radio station's programme: an endless, seeded schedule mixed into continuous PCM.

Items are catalog songs (some joined mid-way, a few cut short), songs that are not in the
catalog, DJ talk and jingles. Songs crossfade (2–3 s), the DJ talks over song intros and
outros, and the mix goes through a slow AGC, a soft clipper and a little noise, as on air.
Alongside the audio the programme keeps the ground truth of what aired (:class:`Airing`),
in seconds from the programme start.

The output depends only on the seed, the catalog and the config — not on how the caller
reads it (block sizes), so a test can re-render exactly what a server streamed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from airtrack.demo.catalog import SongSpec, other_song
from airtrack.demo.music import render_jingle, render_song
from airtrack.demo.speech import render_talk
from airtrack.demo.synth import Audio

Kind = Literal["song", "other", "talk", "jingle"]

_NEXT_KIND: dict[str, tuple[list[str], list[float]]] = {
    "song": (["song", "other", "talk", "jingle"], [0.5, 0.15, 0.2, 0.15]),
    "other": (["song", "other", "talk", "jingle"], [0.55, 0.1, 0.2, 0.15]),
    "talk": (["song", "other"], [0.8, 0.2]),
    "jingle": (["song", "other", "talk"], [0.55, 0.15, 0.3]),
}


@dataclass(frozen=True)
class Airing:
    """One item that aired: ``start_s``/``end_s`` are its audible extent in programme seconds.

    ``song_id`` is the catalog name for ``kind == "song"`` and None otherwise; ``offset_s``
    is where in the song the airing began (songs joined mid-way have ``offset_s > 0``).
    """

    kind: Kind
    song_id: str | None
    start_s: float
    end_s: float
    offset_s: float = 0.0
    title: str = ""
    artist: str = ""

    def as_tuple(self) -> tuple[str, str | None, float, float]:
        return (self.kind, self.song_id, self.start_s, self.end_s)

    def to_json(self, wall_of: Callable[[float], datetime] | None = None) -> dict[str, Any]:
        """JSON object; with ``wall_of`` (programme s → UTC time) also ISO-8601 times."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "song_id": self.song_id,
            "title": self.title or None,
            "artist": self.artist or None,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "offset_s": round(self.offset_s, 3),
        }
        if wall_of is not None:
            out["started_at"] = wall_of(self.start_s).isoformat()
            out["ended_at"] = wall_of(self.end_s).isoformat()
        return out


@dataclass(frozen=True)
class ProgrammeConfig:
    """How a station sounds; defaults are a typical music station."""

    sr: int = 22050
    crossfade_s: tuple[float, float] = (2.0, 3.0)
    talk_s: tuple[float, float] = (6.0, 18.0)
    jingle_s: tuple[float, float] = (3.0, 6.0)
    talk_over_intro_s: tuple[float, float] = (3.0, 6.0)
    mid_start_prob: float = 0.25
    cut_short_prob: float = 0.1
    snr_db: float = 35.0
    target_rms: float = 0.16
    speedup: float = 1.0  # >1 plays songs fast (pitch and tempo together), as some stations do
    max_song_s: float | None = None  # cap airings (tests use short songs)
    other_song_s: tuple[float, float] = (60.0, 150.0)  # lengths of non-catalog songs


@dataclass
class _Item:
    airing: Airing
    audio: Audio
    start: int  # absolute sample of audio[0]
    gain_t: list[float] = field(default_factory=list)  # gain breakpoints, absolute samples
    gain_v: list[float] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.start + len(self.audio)


@lru_cache(maxsize=8)
def _song_audio(spec: SongSpec, sr: int, speedup: float) -> Audio:
    audio = (
        spec.render(sr) if spec.path is not None else render_song(spec.seed, spec.duration_s, sr)
    )
    if speedup != 1.0:
        n = int(len(audio) / speedup)
        audio = np.interp(np.arange(n) * speedup, np.arange(len(audio)), audio).astype(np.float32)
    audio.flags.writeable = False
    return audio


class Programme:
    """An endless station programme; :meth:`read` returns the next samples (float32 mono)."""

    def __init__(
        self, seed: int, catalog: Sequence[SongSpec], config: ProgrammeConfig | None = None
    ) -> None:
        self.seed = seed
        self.catalog = list(catalog)
        self.config = config or ProgrammeConfig()
        self.sr = self.config.sr
        self._rng = np.random.default_rng([seed, 0x50_52_4F_47])
        self._chunk = self.sr // 10
        self._chunk_index = 0
        self._pos = 0  # absolute sample of the next chunk to mix
        self._buf = np.zeros(0, dtype=np.float32)
        self._served = 0
        self._items: list[_Item] = []  # active (not fully mixed yet)
        self._airings: list[Airing] = []
        self._recent: list[str] = []
        self._other_n = 0
        self._talk_n = 0
        self._agc = 1.0

    # -- public -------------------------------------------------------------------------
    @property
    def position_s(self) -> float:
        """Programme seconds already returned by :meth:`read`."""
        return self._served / self.sr

    def read(self, n: int) -> Audio:
        """The next ``n`` samples of the programme."""
        parts, have = [self._buf], len(self._buf)
        while have < n:
            parts.append(self._mix_chunk())
            have += len(parts[-1])
        if len(parts) > 1:
            self._buf = np.concatenate(parts)
        out, self._buf = self._buf[:n], self._buf[n:]
        self._served += n
        return out

    def airings(self, until_s: float | None = None) -> list[Airing]:
        """Ground truth: every airing scheduled so far (those starting before ``until_s``)."""
        if until_s is None:
            return list(self._airings)
        return [a for a in self._airings if a.start_s < until_s]

    def now_playing(self, t_s: float) -> Airing | None:
        """The most recently started airing audible at ``t_s``."""
        live = [a for a in self._airings if a.start_s <= t_s < a.end_s]
        return live[-1] if live else None

    # -- scheduling -----------------------------------------------------------------------
    def _schedule_until(self, sample: int) -> None:
        while not self._items or self._items[-1].start < sample:
            self._add_item()

    def _add_item(self) -> None:
        rng, sr = self._rng, self.sr
        prev = self._items[-1] if self._items else None
        if prev is None:
            kind = "jingle"
        else:
            kinds, p = _NEXT_KIND[prev.airing.kind]
            kind = str(rng.choice(kinds, p=p))
            if kind == "song" and not self.catalog:
                kind = "other"
        item = self._make_item(kind)
        start = 0 if prev is None else self._join(prev, item)
        item.start = start
        a = item.airing
        item.airing = Airing(
            a.kind,
            a.song_id,
            start / sr,
            (start + len(item.audio)) / sr,
            a.offset_s,
            a.title,
            a.artist,
        )
        if not item.gain_t:
            item.gain_t, item.gain_v = [start, start + len(item.audio)], [1.0, 1.0]
        self._items.append(item)
        self._airings.append(item.airing)

    def _make_item(self, kind: str) -> _Item:
        rng, cfg, sr = self._rng, self.config, self.sr
        if kind == "talk":
            self._talk_n += 1
            dur = float(rng.uniform(*cfg.talk_s))
            audio = render_talk(self.seed * 100_003 + self._talk_n, dur, sr)
            return _Item(Airing("talk", None, 0.0, 0.0), audio, 0)
        if kind == "jingle":
            dur = float(rng.uniform(*cfg.jingle_s))
            audio = render_jingle(self.seed * 7 + int(rng.integers(4)), dur, sr)
            return _Item(Airing("jingle", None, 0.0, 0.0), audio * np.float32(0.9), 0)
        if kind == "song":
            fresh = [s for s in self.catalog if s.name not in self._recent] or self.catalog
            spec = fresh[int(rng.integers(len(fresh)))]
            self._recent = ([*self._recent, spec.name])[-min(5, len(self.catalog) - 1 or 1) :]
        else:
            self._other_n += 1
            lo, hi = cfg.other_song_s
            spec = other_song((self.seed % 10_000) * 10_000 + self._other_n, min_s=lo, max_s=hi)
        full = _song_audio(spec, sr, cfg.speedup)
        total_s = len(full) / sr
        offset_s = 0.0
        if rng.random() < cfg.mid_start_prob:
            offset_s = float(rng.uniform(0.15, 0.45)) * total_s
        play_s = total_s - offset_s
        if rng.random() < cfg.cut_short_prob:
            play_s *= float(rng.uniform(0.5, 0.85))
        if cfg.max_song_s is not None:
            play_s = min(play_s, cfg.max_song_s)
        i0 = int(offset_s * sr)
        audio = full[i0 : i0 + int(play_s * sr)]
        airing = Airing(
            "song" if kind == "song" else "other",
            spec.name if kind == "song" else None,
            0.0,
            0.0,
            offset_s * cfg.speedup,
            spec.title,
            spec.artist,
        )
        return _Item(airing, audio, 0)

    def _join(self, prev: _Item, item: _Item) -> int:
        """Decide the overlap between ``prev`` and ``item``; set both gain envelopes."""
        rng, sr = self._rng, self.sr
        pk, k = prev.airing.kind, item.airing.kind
        n_new = len(item.audio)
        if pk in ("song", "other") and k in ("song", "other"):
            overlap = rng.uniform(*self.config.crossfade_s)
            fade_in = overlap / 2
        elif pk in ("song", "other"):  # DJ or jingle over the outro
            overlap = rng.uniform(1.0, 2.5)
            fade_in = 0.05
        elif pk == "talk" and k in ("song", "other"):  # song intro under the DJ
            overlap = rng.uniform(*self.config.talk_over_intro_s)
            fade_in = 0.3
        else:
            overlap = rng.uniform(0.1, 0.5)
            fade_in = 0.05
        ov = min(int(overlap * sr), len(prev.audio) // 2, n_new // 2)
        start = prev.end - ov
        p_end = prev.end
        if pk in ("song", "other"):  # fade the outgoing song out over the overlap
            cut = max(prev.gain_t[0], p_end - ov - int(0.5 * sr))
            prev.gain_t, prev.gain_v = _trim_env(prev, cut), _trim_val(prev, cut)
            prev.gain_t += [p_end]
            prev.gain_v += [0.0]
        fi = max(1, int(fade_in * sr))
        if pk == "talk" and k in ("song", "other"):
            duck = 0.3
            item.gain_t = [start, start + fi, p_end, p_end + int(0.8 * sr), start + n_new]
            item.gain_v = [0.0, duck, duck, 1.0, 1.0]
        else:
            item.gain_t = [start, start + fi, start + n_new]
            item.gain_v = [0.0, 1.0, 1.0]
        item.gain_t = list(
            np.minimum.accumulate(np.minimum(item.gain_t, start + n_new)[::-1])[::-1]
        )
        return start

    # -- mixing ---------------------------------------------------------------------------
    def _mix_chunk(self) -> Audio:
        cfg, n = self.config, self._chunk
        a, b = self._pos, self._pos + n
        self._schedule_until(b)
        mix = np.zeros(n, dtype=np.float64)
        t = np.arange(a, b)
        for it in self._items:
            lo, hi = max(a, it.start), min(b, it.end)
            if lo >= hi:
                continue
            g = np.interp(t[lo - a : hi - a], it.gain_t, it.gain_v)
            mix[lo - a : hi - a] += g * it.audio[lo - it.start : hi - it.start]
        self._items = [it for it in self._items if it.end > b]
        # Slow AGC (broadcast compression), interpolated across the chunk, then a soft clip.
        rms = float(np.sqrt(np.mean(mix**2)))
        want = float(np.clip(cfg.target_rms / max(rms, 1e-4), 0.5, 4.0))
        new = self._agc + (want - self._agc) * (0.3 if want < self._agc else 0.05)
        mix *= np.linspace(self._agc, new, n, endpoint=False)
        self._agc = new
        out: npt.NDArray[np.float64] = np.tanh(1.5 * mix) / np.tanh(1.5)
        noise_rng = np.random.default_rng([self.seed, 0x4E_4F_49_53, self._chunk_index])
        out += cfg.target_rms * 10 ** (-cfg.snr_db / 20) * noise_rng.standard_normal(n)
        self._chunk_index += 1
        self._pos = b
        return np.clip(out, -1.0, 1.0).astype(np.float32)


def _trim_env(item: _Item, cut: float) -> list[float]:
    return [t for t in item.gain_t if t < cut] + [cut]


def _trim_val(item: _Item, cut: float) -> list[float]:
    keep = [v for t, v in zip(item.gain_t, item.gain_v, strict=True) if t < cut]
    return [*keep, float(np.interp(cut, item.gain_t, item.gain_v))]
