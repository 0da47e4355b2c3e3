"""Does a station's "Artist - Title" name the track airtrack heard? Normalise, then fuzzy-compare.

Stations write the same song many ways: case, accents, "feat." guests, "(Radio Edit)",
"&" for "and", title and artist swapped. Normalising removes what does not name the
song; :func:`similarity` then compares what is left with difflib (no extra dependency:
these strings are short and compared a few times per airing).
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

_BRACKETS = re.compile(r"[\(\[\{][^\)\]\}]*[\)\]\}]")
_FEAT = re.compile(r"\b(feat|ft|featuring|with)\b\.?.*$")
_NON_WORD = re.compile(r"[^\w]+")
#: The separators stations put between artist and title, most specific first.
_SEPARATORS = (" - ", " – ", " — ", " / ", " -- ", " | ", "-")


def normalise(text: str) -> str:
    """Lower case, no accents, no bracketed extras or featured guests, words joined by spaces."""
    s = unicodedata.normalize("NFKD", text)
    s = "".join(c for c in s if not unicodedata.combining(c)).casefold()
    s = _BRACKETS.sub(" ", s)
    s = s.replace("&", " and ")
    s = _FEAT.sub(" ", s)
    s = _NON_WORD.sub(" ", s).replace("_", " ")
    return " ".join(s.split())


def split_artist_title(text: str) -> tuple[str, str] | None:
    """``"Artist - Title"`` → (artist, title); None when the text has no separator."""
    for sep in _SEPARATORS:
        if sep in text:
            artist, _, title = text.partition(sep)
            if artist.strip() and title.strip():
                return artist.strip(), title.strip()
    return None


def looks_like_song(text: str | None) -> bool:
    """A title naming a song ("Artist - Title"), not a station name or slogan."""
    return bool(text) and split_artist_title(text or "") is not None


def _ratio(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    plain = SequenceMatcher(None, a, b).ratio()
    # word order differs between stations ("Title - Artist"): compare sorted words too
    ordered = SequenceMatcher(None, " ".join(sorted(a.split())), " ".join(sorted(b.split())))
    return max(plain, ordered.ratio())


def similarity(meta: str, artist: str | None, title: str | None) -> float:
    """0..1: how well the station's text names the track (artist, title)."""
    want_title = normalise(title or "")
    want_artist = normalise(artist or "")
    parts = split_artist_title(meta)
    whole = _ratio(normalise(meta), f"{want_artist} {want_title}".strip())
    if parts is None or not want_artist:
        return max(whole, _ratio(normalise(meta), want_title))
    a, t = (normalise(p) for p in parts)
    # the weaker of the two fields decides: a right artist with a wrong title is wrong
    pair = min(_ratio(a, want_artist), _ratio(t, want_title))
    swapped = min(_ratio(t, want_artist), _ratio(a, want_title))
    # not ``whole`` here: a long shared artist would carry a wrong short title over the line
    return max(pair, swapped)


def matches(meta: str, artist: str | None, title: str | None, threshold: float) -> bool:
    """True when the station's text names the track (similarity at least ``threshold``)."""
    return similarity(meta, artist, title) >= threshold
