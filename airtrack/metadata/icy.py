"""Split an ICY (Icecast/Shoutcast) byte stream into audio and in-band title events.

A server that was asked for ``Icy-MetaData: 1`` and answered ``icy-metaint: N`` sends
N audio bytes, then one length byte L, then 16*L bytes of metadata (NUL padded,
usually ``StreamTitle='...';StreamUrl='...';``), then N audio bytes again, and so on.
The decoder must never see a metadata byte: one left in the audio is a corrupt frame,
one audio byte taken as metadata shifts every later block. The splitter is a small
state machine over whatever chunks the socket delivers, so it is exact for any chunking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Encodings tried in order when a title is not UTF-8: cp1252 is what most Windows
#: playout software sends; latin-1 decodes any byte, so decoding never fails.
_FALLBACKS = ("cp1252", "latin-1")

_FIELD = re.compile(r"([A-Za-z]+)='(.*?)';(?=\s*[A-Za-z]+='|\s*$)", re.DOTALL)


@dataclass(frozen=True)
class TitleEvent:
    """A metadata block: at ``audio_offset`` (audio bytes before it) the title became ``title``.

    ``title`` is None when the block carried no ``StreamTitle``; an empty title means
    the station cleared it (nothing named).
    """

    audio_offset: int
    title: str | None
    url: str | None
    encoding: str


def decode_text(raw: bytes) -> tuple[str, str]:
    """Decode metadata bytes: UTF-8 when valid, else the first fallback that decodes."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    for enc in _FALLBACKS:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def parse_block(raw: bytes) -> tuple[dict[str, str], str]:
    """The ``key='value';`` fields of one metadata block (NUL padding removed), and its encoding."""
    text, enc = decode_text(raw.rstrip(b"\x00"))
    fields = {m.group(1): m.group(2) for m in _FIELD.finditer(text.strip())}
    return fields, enc


def encode_block(fields: dict[str, str], encoding: str = "utf-8") -> bytes:
    """One wire metadata block (length byte + NUL-padded text): the inverse of the splitter."""
    text = "".join(f"{k}='{v}';" for k, v in fields.items()).encode(encoding)[: 16 * 255]
    n = -(-len(text) // 16)
    return bytes([n]) + text.ljust(16 * n, b"\x00")


class IcySplitter:
    """Feeds on raw ICY bytes; :meth:`feed` returns the audio in them and the title events."""

    def __init__(self, metaint: int) -> None:
        if metaint <= 0:
            raise ValueError(f"icy-metaint must be positive, got {metaint}")
        self.metaint = metaint
        self.audio_bytes = 0  # audio delivered so far: the stream position of events
        self._audio_left = metaint
        self._meta_left: int | None = None  # None: expecting the length byte
        self._meta = bytearray()
        self._in_meta = False

    def feed(self, chunk: bytes) -> tuple[bytes, list[TitleEvent]]:
        audio = bytearray()
        events: list[TitleEvent] = []
        pos = 0
        n = len(chunk)
        while pos < n:
            if not self._in_meta:
                take = min(self._audio_left, n - pos)
                audio += chunk[pos : pos + take]
                pos += take
                self._audio_left -= take
                self.audio_bytes += take
                if self._audio_left == 0:
                    self._in_meta = True
                    self._meta_left = None
            elif self._meta_left is None:
                self._meta_left = chunk[pos] * 16
                pos += 1
                self._meta.clear()
                if self._meta_left == 0:
                    self._end_meta(events)
            else:
                take = min(self._meta_left, n - pos)
                self._meta += chunk[pos : pos + take]
                pos += take
                self._meta_left -= take
                if self._meta_left == 0:
                    self._end_meta(events)
        return bytes(audio), events

    def _end_meta(self, events: list[TitleEvent]) -> None:
        if self._meta:  # an empty block (length 0) means "no change": no event
            fields, enc = parse_block(bytes(self._meta))
            events.append(
                TitleEvent(
                    self.audio_bytes, fields.get("StreamTitle"), fields.get("StreamUrl"), enc
                )
            )
        self._in_meta = False
        self._audio_left = self.metaint
        self._meta_left = None
