"""Normalised fuzzy matching of a station's "Artist - Title" with a catalog track."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airtrack.metadata.match import looks_like_song, matches, normalise, similarity

T = 0.8


def test_the_usual_variants_match() -> None:
    assert matches("BEYONCÉ - Halo (Radio Edit)", "Beyonce", "Halo", T)
    assert matches("Daft Punk feat. Pharrell - Get Lucky", "Daft Punk", "Get Lucky", T)
    assert matches("Get Lucky - Daft Punk", "Daft Punk", "Get Lucky", T)
    assert matches("Simon & Garfunkel - The Boxer", "Simon and Garfunkel", "The Boxer", T)
    assert matches("Guns N' Roses – Don't Cry", "Guns N Roses", "Dont Cry", T)


def test_other_songs_do_not() -> None:
    assert not matches("The Rolling Stones - Angie", "The Rolling Stones", "Paint It Black", T)
    assert not matches("Radio Demo FM - the best hits", "Daft Punk", "Get Lucky", T)
    assert not matches("", "Daft Punk", "Get Lucky", T)


def test_song_shape() -> None:
    assert looks_like_song("Artist - Title")
    assert not looks_like_song("Radio Demo FM")
    assert not looks_like_song(None)
    assert not looks_like_song("")


@given(st.text(max_size=40), st.text(max_size=40))
def test_similarity_is_a_fraction_and_a_text_names_itself(artist: str, title: str) -> None:
    s = similarity(f"{artist} - {title}", artist, title)
    assert 0.0 <= s <= 1.0
    if normalise(artist) and normalise(title) and " - " not in artist:
        assert s == 1.0


@given(st.text(max_size=60))
def test_normalise_is_idempotent(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)
