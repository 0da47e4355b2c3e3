"""The real worker reports an ICY station's titles through its outbox to the orchestrator."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airtrack.metadata.icy import encode_block
from airtrack.protocol import TitleIn
from airtrack.worker.outbox import title_key
from tests.integration.orch_support import fast_settings
from tests.integration.test_worker_orchestrator import LiveOrchestrator, _supervisor
from tests.support.wait import until_async
from tests.unit.test_worker_support import encode, tone

METAINT = 4000  # a quarter second at 128 kbit/s
BPS = 16_000
#: (title, encoding): what the station names, in turn, a second and a half each
TITLES = [("Daft Punk - Get Lucky", "utf-8"), ("Björk - Jóga", "cp1252"), ("Radio ICY FM", "utf-8")]


class IcyStation:
    """A live MP3 station (real time) with ICY titles, on 127.0.0.1."""

    def __init__(self) -> None:
        self.mp3 = encode(tone(10.0))
        self._stop = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    owner._serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/live.mp3"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        icy = h.headers.get("Icy-MetaData") == "1"
        h.send_response(200)
        h.send_header("Content-Type", "audio/mpeg")
        if icy:
            h.send_header("icy-metaint", str(METAINT))
        h.end_headers()
        start = time.monotonic()
        pos = sent = k = 0
        last: str | None = None
        while not self._stop.is_set():
            piece = self.mp3[pos : pos + METAINT]
            piece += self.mp3[: METAINT - len(piece)]
            pos = (pos + METAINT) % len(self.mp3)
            h.wfile.write(piece)
            sent += METAINT
            k += 1
            if icy:
                title, enc = TITLES[(k // 6) % len(TITLES)]
                h.wfile.write(
                    b"\x00" if title == last else encode_block({"StreamTitle": title}, enc)
                )
                last = title
            h.wfile.flush()
            delay = start + sent / BPS - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def __enter__(self) -> IcyStation:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def station() -> Iterator[IcyStation]:
    with IcyStation() as s:
        yield s


@pytest.fixture
async def orch(db_url: str, tmp_path: Path) -> AsyncIterator[LiveOrchestrator]:
    o = LiveOrchestrator(db_url, fast_settings(tmp_path / "orch"))
    await o.start()
    try:
        yield o
    finally:
        await o.stop()


async def _titles(orch: LiveOrchestrator) -> list[dict[str, Any]]:
    assert orch.db is not None

    async def fn(tx: Any) -> list[dict[str, Any]]:
        return list(
            await tx.execute_raw("SELECT title, encoding, at, epoch FROM stream_titles ORDER BY at")
        )

    return list(await orch.db.run("test_titles", fn))


async def test_the_worker_reports_icy_titles_in_any_encoding(
    orch: LiveOrchestrator, station: IcyStation, tmp_path: Path
) -> None:
    r = await orch.admin("POST", "/streams", json={"name": "icy", "url": station.url})
    assert r.status_code == 201, r.text
    sup = _supervisor(tmp_path, orch, "wk-icy")
    stop = asyncio.Event()
    task = asyncio.create_task(sup.run(stop))
    try:

        async def all_three() -> bool:
            return {t["title"] for t in await _titles(orch)} >= {t for t, _ in TITLES}

        await until_async(all_three, 30, "all three titles")
        rows = await _titles(orch)
        encodings = {t["title"]: t["encoding"] for t in rows}
        assert encodings["Björk - Jóga"] == "cp1252"
        assert encodings["Daft Punk - Get Lucky"] == "utf-8"
        # in order of airing, a second and a half apart (wall time of the audio)
        ats = [t["at"].timestamp() for t in rows]
        gaps = [b - a for a, b in itertools.pairwise(ats)]
        assert all(g == pytest.approx(1.5, abs=0.4) for g in gaps), gaps
        every = (await orch.admin("GET", "/plays", params={"source": "all"})).json()
        assert {(p["artist"], p["title"]) for p in every} >= {
            ("Daft Punk", "Get Lucky"),
            ("Björk", "Jóga"),
        }
        assert (await orch.admin("GET", "/plays")).json() == []  # nothing heard
        # a title queued as the worker is told to stop goes out before it deregisters
        (sid, pipe) = next(iter(sup.pipelines.items()))
        at = datetime.now(UTC)
        last = TitleIn(
            key=title_key(sid, pipe.assignment.epoch, at, "Last - Title"),
            stream_id=sid,
            epoch=pipe.assignment.epoch,
            at=at,
            title="Last - Title",
        )
        sup.put_title(last)
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0
        assert "Last - Title" in {t["title"] for t in await _titles(orch)}
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 15) == 0


class ShoutcastV1Station(IcyStation):
    """Repeats the current StreamTitle in every metadata block (four a second here), as
    SHOUTcast v1 servers do; its first connection breaks after two seconds, so the worker
    reconnects in the middle of the first song and hears its title again."""

    FIRST, SECOND = "Artist A - First Song", "Artist B - Second Song"

    def __init__(self) -> None:
        super().__init__()
        self.t0: float | None = None
        self.connections = 0

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "audio/mpeg")
        h.send_header("icy-metaint", str(METAINT))
        h.end_headers()
        self.connections += 1
        first = self.connections == 1
        start = time.monotonic()
        self.t0 = self.t0 or start
        pos = sent = 0
        while not self._stop.is_set():
            piece = self.mp3[pos : pos + METAINT]
            piece += self.mp3[: METAINT - len(piece)]
            pos = (pos + METAINT) % len(self.mp3)
            title = self.FIRST if time.monotonic() - self.t0 < 5.0 else self.SECOND
            h.wfile.write(piece + encode_block({"StreamTitle": title}))
            h.wfile.flush()
            sent += METAINT
            if first and sent >= 2 * BPS:
                return  # the connection drops
            delay = start + sent / BPS - time.monotonic()
            if delay > 0:
                time.sleep(delay)


async def test_a_title_repeated_in_every_block_is_stored_once_even_across_a_reconnect(
    orch: LiveOrchestrator, tmp_path: Path
) -> None:
    with ShoutcastV1Station() as station:
        r = await orch.admin("POST", "/streams", json={"name": "v1", "url": station.url})
        assert r.status_code == 201, r.text
        sup = _supervisor(tmp_path, orch, "wk-v1")
        stop = asyncio.Event()
        task = asyncio.create_task(sup.run(stop))
        try:

            async def second_song_heard_a_while() -> bool:
                rows = await _titles(orch)
                return (
                    any(t["title"] == station.SECOND for t in rows)
                    and station.t0 is not None
                    and time.monotonic() - station.t0 > 7.0
                )

            await until_async(second_song_heard_a_while, 40, "the second song heard a while")
            assert station.connections >= 2, "the worker reconnected mid-song"
            rows = await _titles(orch)
            # about 28 blocks named the songs; one row per change of title
            assert [t["title"] for t in rows] == [station.FIRST, station.SECOND]
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 15) == 0
