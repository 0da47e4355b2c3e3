"""Text for formats that take ASCII only (SoundExchange's Report of Use, ASCII templates).

Unicode NFKD splits a letter from its accents ("é" → "e" + a combining accent) and
compatibility forms into plain ones ("ﬁ" → "fi", full-width "Ａ" → "A"); whatever is
still not ASCII after that (CJK, emoji, most symbols) is dropped. A few letters NFKD
leaves whole get their usual spelling ("ß" → "ss", "Ø" → "O", "Æ" → "AE"). Control
characters (a tab or line break in a title) become spaces, and runs of spaces one.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["to_ascii"]

_SPELLED = str.maketrans(
    {
        "ß": "ss",
        "Æ": "AE",
        "æ": "ae",
        "Ø": "O",
        "ø": "o",
        "Œ": "OE",
        "œ": "oe",
        "Ð": "D",
        "ð": "d",
        "Þ": "Th",
        "þ": "th",
        "Ł": "L",
        "ł": "l",
        "đ": "d",
        "Đ": "D",
        "ı": "i",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "–": "-",
        "—": "-",
    }
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r" {2,}")


def to_ascii(text: str) -> str:
    """``text`` as printable ASCII: transliterated where sensible, the rest dropped."""
    plain = unicodedata.normalize("NFKD", text.translate(_SPELLED))
    ascii_only = plain.encode("ascii", "ignore").decode("ascii")
    return _SPACES.sub(" ", _CONTROL.sub(" ", ascii_only)).strip()
