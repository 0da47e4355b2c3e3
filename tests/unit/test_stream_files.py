"""Stations files (M3U/M3U8, PLS, CSV) → entries with line numbers; bad input → one clear
error per line (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airtrack.errors import StreamFieldError, StreamImportError
from airtrack.orchestrator.stream_files import check_stream_fields, parse_streams

LIMIT = 1 << 20

M3U = """#EXTM3U
#EXTINF:-1 tvg-logo="x.png",Rádio Um
http://127.0.0.1:8000/um.mp3

#EXTINF:-1,Radio Dois
# a comment people leave
https://127.0.0.1/dois
"""

PLS = """[playlist]
NumberOfEntries=2
File1=http://127.0.0.1:8000/one
Title1=One FM
Length1=-1
File2=http://127.0.0.1:8000/two
Title2=Two FM
Version=2
"""

CSV = """name,url,timezone,backup_urls,country,city,genre,extra.owner
Antena,http://127.0.0.1/a,Europe/Lisbon,http://127.0.0.1/a2 | http://127.0.0.1/a3,PT,Lisboa,news,RTP
"Comma, FM",http://127.0.0.1/c,,,,,,
"""


def test_m3u_names_from_extinf() -> None:
    entries, problems = parse_streams(M3U.encode(), "list.m3u8", LIMIT)
    assert problems == []
    assert [(e.line, e.name, e.fields["url"]) for e in entries] == [
        (3, "Rádio Um", "http://127.0.0.1:8000/um.mp3"),
        (7, "Radio Dois", "https://127.0.0.1/dois"),
    ]


def test_pls_pairs_file_and_title() -> None:
    entries, problems = parse_streams(PLS.encode(), "x.pls", LIMIT)
    assert problems == []
    assert [(e.line, e.name, e.fields["url"]) for e in entries] == [
        (3, "One FM", "http://127.0.0.1:8000/one"),
        (6, "Two FM", "http://127.0.0.1:8000/two"),
    ]


def test_csv_columns_backups_and_extra() -> None:
    entries, problems = parse_streams(CSV.encode(), "stations.csv", LIMIT)
    assert problems == []
    a, c = entries
    assert a.fields == {
        "url": "http://127.0.0.1/a",
        "timezone": "Europe/Lisbon",
        "backup_urls": ["http://127.0.0.1/a2", "http://127.0.0.1/a3"],
        "country": "PT",
        "city": "Lisboa",
        "genre": "news",
    }
    assert dict(a.extra) == {"owner": "RTP"}
    assert (c.line, c.name, dict(c.fields)) == (3, "Comma, FM", {"url": "http://127.0.0.1/c"})


def test_format_is_sniffed_when_the_name_does_not_say() -> None:
    assert len(parse_streams(PLS.encode(), "upload", LIMIT)[0]) == 2
    assert len(parse_streams(M3U.encode(), "upload", LIMIT)[0]) == 2
    with pytest.raises(StreamImportError, match="cannot tell the format"):
        parse_streams(b"hello\n", "upload", LIMIT)


def test_every_bad_line_is_named() -> None:
    m3u = "#EXTM3U\nhttp://127.0.0.1/no-name\n#EXTINF:-1,Ftp\nftp://127.0.0.1/x\n#EXTINF:-1,Ok\nhttp://127.0.0.1/ok\n"
    _, problems = parse_streams(m3u.encode(), "a.m3u", LIMIT)
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 4"]
    assert "has no name" in problems[0] and "http:// or https://" in problems[1]

    pls = "[playlist]\nFile1=http://127.0.0.1/1\nFile2=http://127.0.0.1/2\nTitle2=Two\n"
    _, problems = parse_streams(pls.encode(), "a.pls", LIMIT)
    assert problems == ["line 2: File1 has no Title1: every station needs a name"]

    csv = (
        "name,url,timezone\nZ,http://127.0.0.1/a,Mars/Olympus\nB,not a url,UTC\nC\n"
        "A,http://127.0.0.1/x,UTC\nA,http://127.0.0.1/y,UTC\n"
    )
    _, problems = parse_streams(csv.encode(), "a.csv", LIMIT)
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4", "line 6"]
    assert "unknown time zone 'Mars/Olympus'" in problems[0]
    assert "1 fields, the header has 3" in problems[2]
    assert "'A' is also on line 5" in problems[3]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"name,timezone\nA,UTC\n", "a.csv", "the header is refused"),
        (b"name,url,colour\nA,http://127.0.0.1/,red\n", "a.csv", "the header is refused"),
        (
            "#EXTM3U\n#EXTINF:-1,Caf\u00e9\nhttp://127.0.0.1/\n".encode("latin-1"),
            "a.m3u",
            "line 2: not UTF-8",
        ),
        ("#EXTM3U\n".encode("utf-16"), "a.m3u", "NUL byte"),
        (b"File1=http://127.0.0.1/\n", "a.pls", "starts with \\[playlist\\]"),
        (b"#EXTM3U\n" + b"#EXTINF:-1,x\n" * 100_000, "a.m3u", "the limit is 1,048,576"),
        (b"#EXTM3U\n", "a.m3u", "no stations"),
    ],
)
def test_malformed_files_are_refused(data: bytes, name: str, message: str) -> None:
    with pytest.raises(StreamImportError, match=message):
        parse_streams(data, name, LIMIT)


def test_csv_missing_columns_are_listed() -> None:
    with pytest.raises(StreamImportError) as info:
        parse_streams(b"name,timezone\nA,UTC\n", "a.csv", LIMIT)
    assert info.value.problems == ["line 1: missing column: url"]


@given(st.sampled_from(["UTC", "Europe/Lisbon", "America/Sao_Paulo", "Asia/Kolkata"]))
def test_known_zones_pass_unknown_fail(zone: str) -> None:
    assert check_stream_fields({"timezone": zone}) == {"timezone": zone}
    with pytest.raises(StreamFieldError, match="unknown time zone"):
        check_stream_fields({"timezone": zone + "/Nowhere"})


@given(st.text(max_size=40))
def test_any_text_zone_is_accepted_or_refused_with_one_line(text: str) -> None:
    try:
        check_stream_fields({"timezone": text})
    except StreamFieldError as exc:
        assert "\n" not in str(exc)
