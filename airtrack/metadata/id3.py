"""Text frames of an ID3v2 tag: the timed metadata of HLS streams (``TIT2``/``TPE1``).

FFmpeg hands an MPEG-TS ``timed_id3`` stream over as data packets, one whole tag per
packet; this reads the text frames out of one (v2.3 and v2.4). Pure, no I/O.
"""

from __future__ import annotations

_TEXT_ENCODINGS = {0: "latin-1", 1: "utf-16", 2: "utf-16-be", 3: "utf-8"}


def _syncsafe(b: bytes) -> int:
    return (b[0] & 0x7F) << 21 | (b[1] & 0x7F) << 14 | (b[2] & 0x7F) << 7 | (b[3] & 0x7F)


def text_frames(tag: bytes) -> dict[str, str]:
    """``{"TIT2": "Title", "TPE1": "Artist", ...}``; {} for anything that is not a tag."""
    if len(tag) < 10 or tag[:3] != b"ID3" or tag[3] not in (3, 4):
        return {}
    major, flags = tag[3], tag[5]
    end = min(len(tag), 10 + _syncsafe(tag[6:10]))
    pos = 10
    if flags & 0x40:  # an extended header: skip it
        if len(tag) < 14:
            return {}
        size = _syncsafe(tag[10:14]) if major == 4 else int.from_bytes(tag[10:14]) + 4
        pos += size
    out: dict[str, str] = {}
    while pos + 10 <= end:
        fid = tag[pos : pos + 4]
        if not fid.isalnum():
            break  # padding
        raw = tag[pos + 4 : pos + 8]
        size = _syncsafe(raw) if major == 4 else int.from_bytes(raw)
        body = tag[pos + 10 : pos + 10 + size]
        pos += 10 + size
        name = fid.decode("ascii")
        if name.startswith("T") and name != "TXXX" and body:
            enc = _TEXT_ENCODINGS.get(body[0])
            if enc is None:
                continue
            text = body[1:].decode(enc, "replace")
            values = [v for v in text.replace("\ufeff", "").split("\x00") if v]
            if values:
                out[name] = "/".join(values)
    return out


def title_of(frames: dict[str, str]) -> str | None:
    """ "Artist - Title" from TPE1 and TIT2 (either alone when the other is missing)."""
    artist, title = frames.get("TPE1"), frames.get("TIT2")
    if artist and title:
        return f"{artist} - {title}"
    return title or artist


def encode_tag(frames: dict[str, str]) -> bytes:
    """An ID3v2.4 tag of UTF-8 text frames (tests and the demo write these)."""

    def ss(n: int) -> bytes:
        return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])

    body = b""
    for fid, text in frames.items():
        data = b"\x03" + text.encode()
        body += fid.encode("ascii") + ss(len(data)) + b"\x00\x00" + data
    return b"ID3\x04\x00\x00" + ss(len(body)) + body
