"""Listener counts from Icecast and SHOUTcast statistics, URL masking and ASCII text."""

from __future__ import annotations

import json

import pytest

from airtrack.errors import ListenerStatsError
from airtrack.orchestrator.listener_stats import parse_listeners
from airtrack.redact import redact_url
from airtrack.reports.ascii import to_ascii

STREAM = ("http://radio.example.org:8000/live", "http://backup.example.org/live-b")


def _icecast(*sources: tuple[str, object]) -> bytes:
    src = [{"listenurl": u, "listeners": n, "server_name": "x"} for u, n in sources]
    return json.dumps({"icestats": {"admin": "a", "source": src}}).encode()


def test_icecast_picks_the_source_of_the_stream() -> None:
    body = _icecast(("http://radio.example.org:8000/other", 99), ("http://ice:8000/live", 12))
    assert parse_listeners(body, STREAM) == 12  # by mount path: Icecast names its own host
    exact = _icecast(("http://ice:8000/live", 1), ("http://radio.example.org:8000/live", 7))
    assert parse_listeners(exact, STREAM) == 7  # same host, port and path wins
    backup = _icecast(("http://ice/live-b", "4"))
    assert parse_listeners(backup, STREAM) == 4  # a backup URL's mount, a count as text
    one = json.dumps({"icestats": {"source": {"listenurl": "http://h/live", "listeners": 3}}})
    assert parse_listeners(one.encode(), STREAM) == 3  # one source is a bare object


def test_shoutcast_v1_and_v2() -> None:
    assert parse_listeners(b'{"currentlisteners": 21, "peaklisteners": 30}', STREAM) == 21
    many = {
        "streams": [
            {"streampath": "/other", "currentlisteners": 1},
            {"streampath": "/live", "currentlisteners": 8},
        ]
    }
    assert parse_listeners(json.dumps(many).encode(), STREAM) == 8
    xml = b"<?xml version='1.0'?><SHOUTCASTSERVER><CURRENTLISTENERS>5</CURRENTLISTENERS>"
    assert parse_listeners(xml + b"</SHOUTCASTSERVER>", STREAM) == 5
    blocks = (
        b"<SHOUTCASTSERVER><STREAMSTATS>"
        b"<STREAM id='1'><CURRENTLISTENERS>2</CURRENTLISTENERS><STREAMPATH>/x</STREAMPATH></STREAM>"
        b"<STREAM id='2'><CURRENTLISTENERS>6</CURRENTLISTENERS><STREAMPATH>/live</STREAMPATH>"
        b"</STREAM></STREAMSTATS></SHOUTCASTSERVER>"
    )
    assert parse_listeners(blocks, STREAM) == 6
    seven = b"<html><body>14,1,20,100,12,128,Artist - A, B and C</body></html>"
    assert parse_listeners(seven, STREAM) == 14


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>It works!</html>",
        b'{"icestats": ',
        b"[1, 2]",
        b'{"icestats": {"source": [{"listenurl": "http://h/other", "listeners": 1}]}}',
        b'{"icestats": {"source": [{"listenurl": "http://h/live", "listeners": -1}]}}',
        b'{"icestats": {"source": [{"listenurl": "http://h/live", "listeners": true}]}}',
        b'{"currentlisteners": 1e30}',
        b'{"status": "ok"}',
        b"<html><body>a,b,c</body></html>",
        b"[" * 100_000,
    ],
)
def test_anything_else_is_malformed_with_a_reason(body: bytes) -> None:
    with pytest.raises(ListenerStatsError) as caught:
        parse_listeners(body, STREAM)
    assert caught.value.kind == "malformed" and str(caught.value)


def test_urls_shown_without_their_secrets() -> None:
    assert redact_url("http://admin:hack%40me@127.0.0.1:8000/admin/stats") == (
        "http://***@127.0.0.1:8000/admin/stats"
    )
    assert redact_url("http://sc.example/admin.cgi?pass=hackme&mode=viewxml") == (
        "http://sc.example/admin.cgi?pass=***&mode=viewxml"
    )
    assert redact_url("http://h/status-json.xsl") == "http://h/status-json.xsl"
    assert redact_url(None) is None
    assert "hackme" not in (redact_url("http://u:hackme@[::1/x") or "")  # unparsable


def test_ascii_transliterates_and_drops_the_rest() -> None:
    assert to_ascii("Björk Guðmundsdóttir – Jóga") == "Bjork Gudmundsdottir - Joga"
    assert to_ascii("Straße ﬁnal Æon") == "Strasse final AEon"
    assert to_ascii("坂本龍一 Merry\tChristmas\r\nMr. Lawrence") == "Merry Christmas Mr. Lawrence"
