"""The four kinds of airing, from metadata title spans and fingerprint plays."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airtrack.metadata.classify import HeardPlay, TitleSpan, classify, wish_list


def _run(spans: list[TitleSpan], plays: list[HeardPlay]) -> list[tuple[str, str | None]]:
    return [(a.kind, a.said) for a in classify(spans, plays, threshold=0.8, min_metadata_s=20)]


def test_each_kind() -> None:
    spans = [
        TitleSpan(0, 182, "Daft Punk - Get Lucky"),  # right
        TitleSpan(182, 360, "Adele - Hello"),  # wrong: Blur plays
        TitleSpan(360, 540, "Radio Demo FM"),  # not a song
        TitleSpan(540, 720, "Unknown Band - Not In Catalog"),  # nothing heard
    ]
    plays = [
        HeardPlay(3, 180, "Daft Punk", "Get Lucky"),
        HeardPlay(185, 355, "Blur", "Song 2"),
        HeardPlay(362, 530, "Queen", "Bohemian Rhapsody"),
    ]
    assert _run(spans, plays) == [
        ("confirmed", "Daft Punk - Get Lucky"),
        ("mismatch", "Adele - Hello"),
        ("fingerprint_only", "Radio Demo FM"),
        ("metadata_only", "Unknown Band - Not In Catalog"),
    ]


def test_no_metadata_at_all_is_fingerprint_only() -> None:
    assert _run([], [HeardPlay(0, 100, "A", "B")]) == [("fingerprint_only", None)]


def test_a_late_title_still_confirms() -> None:
    # the title changes 8 s after the audio: the play overlaps the old one longer at first
    spans = [TitleSpan(95, 108, "X - Old"), TitleSpan(108, 300, "Daft Punk - Get Lucky")]
    assert _run(spans, [HeardPlay(100, 290, "Daft Punk", "Get Lucky")]) == [
        ("confirmed", "Daft Punk - Get Lucky")
    ]


def test_a_lingering_title_does_not_make_a_mismatch() -> None:
    # the previous song's title holds over the play's first seconds, then nothing
    spans = [TitleSpan(0, 108, "X - Old"), TitleSpan(108, 300, "")]
    plays = [HeardPlay(0, 98, "X", "Old"), HeardPlay(100, 290, "Daft Punk", "Get Lucky")]
    assert _run(spans, plays) == [("confirmed", "X - Old"), ("fingerprint_only", None)]


def test_short_flicker_is_not_an_airing() -> None:
    assert _run([TitleSpan(0, 5, "A - B")], []) == []


def test_wish_list_ranks_by_airings() -> None:
    spans = [TitleSpan(i * 100, i * 100 + 90, t) for i, t in enumerate("ABA")]
    spans = [TitleSpan(s.start, s.end, f"Band - {s.title}") for s in spans]
    airings = classify(spans, [], threshold=0.8, min_metadata_s=20)
    assert wish_list(airings) == [("Band - A", 2), ("Band - B", 1)]


_times = st.integers(0, 1000)


@given(
    st.lists(st.tuples(_times, _times, st.sampled_from(["A - B", "C - D", "Station", None]))),
    st.lists(st.tuples(_times, _times, st.sampled_from([("A", "B"), ("C", "D"), ("E", "F")]))),
)
def test_every_play_is_classified_once(
    spans_raw: list[tuple[int, int, str | None]],
    plays_raw: list[tuple[int, int, tuple[str, str]]],
) -> None:
    spans = [TitleSpan(min(a, b), max(a, b), t) for a, b, t in spans_raw]
    plays = [HeardPlay(min(a, b), max(a, b), x, y) for a, b, (x, y) in plays_raw]
    airings = classify(spans, plays, threshold=0.8, min_metadata_s=20)
    assert sorted(id(a.heard) for a in airings if a.heard) == sorted(id(p) for p in plays)
    for a in airings:
        if a.kind == "confirmed":
            assert a.heard is not None and a.said is not None
            assert (a.heard.artist, a.heard.title) == tuple(a.said.split(" - "))
        if a.kind == "metadata_only":
            assert a.heard is None and a.said in ("A - B", "C - D")
