"""Deterministic demo music: distinct songs, jingles (and talk, from :mod:`speech`) from a seed.

A song has a key and mode, a tempo (80–150 BPM), a verse/chorus/bridge form with its own
chord progressions, a melody built from motifs with rhythmic variety, a bass line, a
comping part (pads, stabs or arpeggios), a drum kit from shaped noise and a light room
reverb. Every choice is drawn from ``numpy.random.default_rng(seed)``, so the same seed
gives identical samples and different seeds give different songs.
"""

from __future__ import annotations

import numpy as np

from airtrack.demo.parts import bass_bar, comp_bar, drum_bar, drum_track, melody
from airtrack.demo.speech import render_talk
from airtrack.demo.style import FORM, SECTION_BARS, chord, hz, motif, song_style, vary
from airtrack.demo.synth import (
    Audio,
    drum_kit,
    fade,
    highpass,
    normalise,
    place,
    random_timbre,
    render_note,
    reverb,
)

__all__ = [
    "render_jingle",
    "render_song",
    "render_talk",
    "song_style",
]


def render_song(seed: int, duration_s: float, sr: int = 22050) -> Audio:
    """A complete song of ``duration_s`` seconds (float32 mono in [-1, 1]) for ``seed``."""
    rng = np.random.default_rng([seed, 0x50_4E_47])
    st = song_style(rng, sr)
    n = max(1, int(duration_s * sr))
    beat = 60.0 / st.bpm
    bar = 4 * beat
    lead, comp, bass = (np.zeros(n, dtype=np.float32) for _ in range(3))
    kicks: list[tuple[float, float]] = []
    snares: list[tuple[float, float]] = []
    hats: list[tuple[float, float]] = []
    crashes: list[tuple[float, float]] = []
    motifs: dict[str, list[tuple[int, int, int]]] = {}
    sevenths = bool(rng.random() < 0.4)
    t0, form_i = 0.0, 0
    while t0 < duration_s:
        name = FORM[form_i] if form_i < len(FORM) else ["verse", "chorus"][form_i % 2]
        form_i += 1
        prog = st.progressions.get(name, st.progressions["verse"])
        key = name if name in st.progressions else "verse"
        if key not in motifs:
            motifs[key] = motif(rng, st, prog[:2])
            motifs[key + "b"] = motif(rng, st, prog[2:])
        energy = {"intro": 0.5, "verse": 0.7, "chorus": 1.0, "bridge": 0.6, "outro": 0.5}[name]
        crashes.append((t0, energy))
        for b in range(SECTION_BARS[name]):
            tb = t0 + b * bar
            if tb >= duration_s:
                break
            chord_deg = prog[b % len(prog)]
            comp_bar(
                comp,
                rng,
                st,
                st.comp_style.get(key, "pad"),
                chord_deg,
                tb,
                bar,
                sevenths,
                energy,
                sr,
            )
            bass_bar(bass, rng, st, chord_deg, tb, beat, sr)
            drum_bar(rng, st, tb, beat, energy, b == SECTION_BARS[name] - 1, kicks, snares, hats)
            if name in ("intro", "outro"):
                continue
            if b % 2 == 0:
                phrase = (b // 2) % 4
                base = motifs[key + ("b" if phrase == 2 else "")]
                m = vary(rng, base, 0.15 * (phrase % 2) + 0.05)
                melody(
                    lead,
                    st,
                    st.lead[key],
                    m,
                    tb,
                    beat,
                    1.0 if name == "chorus" else 0.8,
                    12 if name == "chorus" and st.root < 56 else 0,
                    sr,
                )
        t0 += SECTION_BARS[name] * bar
    drums = drum_track(st.kit, kicks, snares, hats, crashes, n, sr)
    # In place, in float32: a 3-minute song must not cost hundreds of MB while rendering.
    mix = lead
    mix *= 0.9
    mix += 0.45 * comp
    del comp
    mix += 0.7 * bass
    del bass
    mix += 0.4 * drums
    del drums
    mix = reverb(mix, rng, sr, float(rng.uniform(0.25, 0.6)), float(rng.uniform(0.08, 0.25)))
    return normalise(fade(mix, sr, 0.02, min(2.0, duration_s / 4)))


def render_jingle(seed: int, duration_s: float, sr: int = 22050) -> Audio:
    """A station ident: whoosh, rising arpeggio, drum hit and a final chord with reverb."""
    rng = np.random.default_rng([seed, 0x4A_49_4E])
    st = song_style(rng, sr)
    n = max(1, int(duration_s * sr))
    out = np.zeros(n, dtype=np.float32)
    whoosh_n = min(n, int(rng.uniform(0.6, 1.2) * sr))
    w = highpass(rng.standard_normal(whoosh_n), 1500, sr) * np.linspace(0, 1, whoosh_n) ** 2
    out[:whoosh_n] += 0.3 * w
    tones = chord(st, 0, bool(rng.random() < 0.5))
    arp = [p + 12 * o for o in (0, 1) for p in tones] + [tones[0] + 24]
    step = min(0.12, 0.5 * duration_s / len(arp))
    lead = random_timbre(rng, attack=(0.002, 0.01))
    for i, p in enumerate(arp):
        render_note(
            out,
            int((whoosh_n / sr + i * step) * sr),
            int(step * sr),
            hz(st, p),
            0.6,
            lead,
            sr,
        )
    t_hit = whoosh_n / sr + len(arp) * step
    stab_len = max(0.1, duration_s - t_hit)
    for p in tones:
        render_note(
            out, int(t_hit * sr), int(stab_len * 0.7 * sr), hz(st, p + 12), 0.5, st.comp, sr
        )
    kit = drum_kit(rng, sr)
    hits = np.array([int(t_hit * sr)], dtype=np.intp)
    place(out, kit.kick + kit.crash[: len(kit.kick)], hits, np.ones(1))
    out = reverb(out, rng, sr, 0.8, 0.35)
    return normalise(fade(out, sr, 0.01, min(0.5, duration_s / 4)))
