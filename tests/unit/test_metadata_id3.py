"""ID3v2 text frames of HLS timed metadata."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airtrack.metadata.id3 import encode_tag, text_frames, title_of

_text = st.text(
    st.characters(blacklist_characters="\x00\ufeff", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=40,
)


@given(st.dictionaries(st.sampled_from(["TIT2", "TPE1", "TALB", "TCON"]), _text))
def test_text_frames_round_trip(frames: dict[str, str]) -> None:
    assert text_frames(encode_tag(frames)) == frames


@given(st.binary(max_size=200))
def test_any_bytes_parse_without_raising(data: bytes) -> None:
    assert isinstance(text_frames(data), dict)
    assert isinstance(text_frames(b"ID3\x04\x00\x00" + data), dict)


def test_v23_latin1_and_utf16() -> None:
    def frame(fid: bytes, body: bytes) -> bytes:
        return fid + len(body).to_bytes(4) + b"\x00\x00" + body

    body = frame(b"TIT2", b"\x00J\xf3ga") + frame(b"TPE1", b"\x01" + "Björk".encode("utf-16"))
    size = len(body) + 10  # padding after the frames
    tag = b"ID3\x03\x00\x00" + bytes([0, 0, size >> 7, size & 0x7F]) + body + b"\x00" * 10
    frames = text_frames(tag)
    assert frames == {"TIT2": "Jóga", "TPE1": "Björk"}
    assert title_of(frames) == "Björk - Jóga"
    assert title_of({"TIT2": "Only"}) == "Only"
    assert title_of({}) is None
