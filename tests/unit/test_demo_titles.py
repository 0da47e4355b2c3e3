"""The demo stations' ICY titles: right for most songs, wrong for some, absent for some."""

from __future__ import annotations

from airtrack.demo.broadcast import Station, StationConfig
from airtrack.demo.catalog import demo_catalog
from airtrack.demo.playout import Airing
from airtrack.metadata.match import looks_like_song, matches

CATALOG = demo_catalog(6, min_s=20.0, max_s=30.0)


def _titles(encoding: str) -> list[tuple[Airing, str]]:
    st = Station(StationConfig("m", "Demo FM", "Pop", 7, icy_encoding=encoding), CATALOG)
    songs = [
        Airing("song", s.name, i * 10.0, i * 10.0 + 9, 0, s.title, s.artist)
        for i, s in enumerate(CATALOG * 20)
    ]
    return [(a, st.icy_title(a)) for a in songs]


def test_most_titles_are_right_some_wrong_some_absent() -> None:
    got = _titles("utf-8")
    right = [t for a, t in got if t and matches(t, a.artist, a.title, 0.8)]
    wrong = [t for a, t in got if t and not matches(t, a.artist, a.title, 0.8)]
    absent = [t for _, t in got if t == ""]
    assert len(right) > len(got) // 2
    assert wrong and absent
    assert all(looks_like_song(t) for t in right + wrong)


def test_talk_and_jingles_name_the_station_not_a_song() -> None:
    st = Station(StationConfig("m", "Demo FM", "Pop", 7), CATALOG)
    for kind in ("talk", "jingle"):
        title = st.icy_title(Airing(kind, None, 0.0, 5.0))  # type: ignore[arg-type]
        assert title.startswith("Demo FM") and not looks_like_song(title)


def test_a_cp1252_station_writes_what_utf8_cannot_read() -> None:
    got = [t for _, t in _titles("cp1252") if t]
    assert all("\u2013" in t for t in got)
    raw = got[0].encode("cp1252")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the en dash must not be valid UTF-8 in cp1252")
