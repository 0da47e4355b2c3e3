"""The ICY splitter: exact stripping for any chunking and metaint; titles in any encoding."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.metadata.icy import IcySplitter, TitleEvent, decode_text, encode_block, parse_block


def _wire(audio: bytes, metaint: int, blocks: dict[int, bytes]) -> bytes:
    """ICY wire bytes: ``audio`` with the block for interval k (or an empty one) after it."""
    out = bytearray()
    for k, start in enumerate(range(0, len(audio), metaint)):
        piece = audio[start : start + metaint]
        out += piece
        if len(piece) == metaint:
            out += blocks.get(k, b"\x00")
    return bytes(out)


def _feed(splitter: IcySplitter, wire: bytes, cuts: list[int]) -> tuple[bytes, list[TitleEvent]]:
    audio = bytearray()
    events: list[TitleEvent] = []
    prev = 0
    for cut in [*sorted(c % (len(wire) + 1) for c in cuts), len(wire)]:
        a, ev = splitter.feed(wire[prev:cut] if cut >= prev else b"")
        prev = max(prev, cut)
        audio += a
        events += ev
    return bytes(audio), events


@settings(max_examples=200, deadline=None)
@given(
    audio=st.binary(min_size=0, max_size=3000),
    metaint=st.integers(min_value=1, max_value=700),
    titles=st.dictionaries(st.integers(0, 40), st.text(max_size=60)),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
)
def test_stripping_is_exact_for_any_chunking(
    audio: bytes, metaint: int, titles: dict[int, str], cuts: list[int]
) -> None:
    blocks = {k: encode_block({"StreamTitle": t.replace("'", "")}) for k, t in titles.items()}
    wire = _wire(audio, metaint, blocks)
    out, events = _feed(IcySplitter(metaint), wire, cuts)
    assert out == audio
    sent = {
        (k + 1) * metaint: t.replace("'", "")
        for k, t in titles.items()
        if (k + 1) * metaint <= len(audio)
    }
    got = {e.audio_offset: e.title for e in events}
    # NUL padding is stripped, so titles that end in NULs lose them (no station sends one)
    assert got == {off: t.rstrip("\x00") for off, t in sent.items()}


def test_title_and_url_are_parsed_even_with_quotes_inside() -> None:
    fields, enc = parse_block(
        encode_block({"StreamTitle": "Guns N' Roses - Don't Cry", "StreamUrl": "http://x/"})
    )
    assert fields == {"StreamTitle": "Guns N' Roses - Don't Cry", "StreamUrl": "http://x/"}
    assert enc == "utf-8"


def test_non_utf8_titles_fall_back_to_cp1252() -> None:
    raw = "Björk – Jóga".encode("cp1252")
    splitter = IcySplitter(4)
    audio, events = splitter.feed(b"abcd" + encode_block({"StreamTitle": "x"})[:1] + b"")
    assert audio == b"abcd" and events == []
    block = bytes([-(-len(b"StreamTitle='" + raw + b"';") // 16)])
    body = (b"StreamTitle='" + raw + b"';").ljust((block[0]) * 16, b"\x00")
    splitter = IcySplitter(4)
    audio, events = splitter.feed(b"abcd" + block + body + b"efgh")
    assert audio == b"abcdefgh"
    assert [(e.audio_offset, e.title, e.encoding) for e in events] == [
        (4, "Björk – Jóga", "cp1252")
    ]


def test_decode_never_fails() -> None:
    assert decode_text(bytes(range(256)))[1] == "latin-1"
    assert decode_text("Motörhead".encode())[0] == "Motörhead"


def test_a_metaint_must_be_positive() -> None:
    import pytest

    with pytest.raises(ValueError):
        IcySplitter(0)
