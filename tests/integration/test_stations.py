"""The built-in Icecast-style server, for real: HTTP on 127.0.0.1, PyAV decoding, real time."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import av
import httpx
import numpy as np
import numpy.typing as npt
import pytest
from scipy import signal

from airtrack.demo.catalog import demo_catalog
from airtrack.demo.icecast import META_INT, IcecastServer, default_stations
from airtrack.demo.playout import Programme, ProgrammeConfig
from airtrack.metadata.icy import TitleEvent
from airtrack.metadata.match import looks_like_song
from airtrack.worker.capture import CaptureOptions, capture

SR = 22050
SPEED = 4.0
BYTES_PER_S = 128_000 / 8
CATALOG = demo_catalog(4, min_s=20.0, max_s=30.0)
PROG = ProgrammeConfig(talk_s=(4.0, 8.0), jingle_s=(2.0, 4.0), other_song_s=(15.0, 25.0))


class ServerThread:
    """An IcecastServer on its own event loop in a thread, so tests can use blocking clients."""

    def __init__(self) -> None:
        self.stations = [
            s.__class__(**{**s.__dict__, "programme": PROG}) for s in default_stations(2, seed=3)
        ]
        self.server: IcecastServer | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.server = IcecastServer(self.stations, CATALOG, speed=SPEED)
        await self.server.start()
        self._ready.set()
        await self._stop.wait()
        await self.server.stop()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(60), "server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)
        assert not self._thread.is_alive()

    @property
    def urls(self) -> dict[str, Any]:
        assert self.server is not None
        return self.server.urls()


@pytest.fixture(scope="module")
def srv() -> Iterator[ServerThread]:
    with ServerThread() as s:
        yield s


def read_stream(url: str, seconds: float, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET ``url`` and keep reading for ``seconds`` of wall time; body in ``.content``-like attr."""
    chunks: list[bytes] = []
    with httpx.stream("GET", url, headers=headers or {}, timeout=10) as r:
        end = time.monotonic() + seconds
        for chunk in r.iter_raw():
            chunks.append(chunk)
            if time.monotonic() > end:
                break
    r._content = b"".join(chunks)
    return r


def decode_mp3(data: bytes) -> npt.NDArray[np.float32]:
    with av.open(io.BytesIO(data), format="mp3") as c:
        return np.concatenate([f.to_ndarray().ravel() for f in c.decode(audio=0)])


def test_stream_and_truth_match_the_programme(srv: ServerThread) -> None:
    """First in the file: the offline re-render below grows with the programme's age."""
    url = srv.urls["mounts"]["station1"]
    r = read_stream(url, 2.5)
    t_first = float(r.headers["x-programme-time"])
    got = decode_mp3(r.content).astype(np.float64)
    truth = httpx.get(srv.urls["truth"]["station1"], timeout=10).json()
    fetched = datetime.now(UTC)
    # Re-render the same programme offline and find where the stream sits in it.
    ref_prog = Programme(srv.stations[0].seed, CATALOG, PROG)
    ref = ref_prog.read(int((truth["now_s"] + 5) * SR)).astype(np.float64)
    seg = got[SR : SR + SR // 2]
    lo = max(0, int((t_first - 1.0) * SR))
    window = ref[lo : lo + 3 * SR]
    corr = signal.correlate(window, seg, "valid", method="fft")
    norm = np.sqrt(np.convolve(window**2, np.ones(len(seg)), "valid") * np.sum(seg**2))
    k = int(np.argmax(corr / norm))
    assert (corr / norm)[k] > 0.9
    found_s = (lo + k - SR) / SR  # programme time of decoded sample 0
    assert abs(found_s - t_first) < 0.1, (found_s, t_first)
    # The truth is the programme's own schedule, with wall-clock times that fit the speed.
    expect = [a.to_json() for a in ref_prog.airings(until_s=truth["now_s"])]
    wall = ("started_at", "ended_at", "icy_title")  # what the station's metadata said
    strip = [{k: v for k, v in a.items() if k not in wall} for a in truth["airings"]]
    assert strip == expect
    now_at = datetime.fromisoformat(truth["now_at"])
    assert abs(now_at.timestamp() - fetched.timestamp()) < 2.0
    walls = [datetime.fromisoformat(a["started_at"]) for a in truth["airings"]]
    assert walls == sorted(walls)
    assert walls[0] == datetime.fromisoformat(truth["started_at"])
    a = truth["airings"][1]
    span = datetime.fromisoformat(a["ended_at"]) - datetime.fromisoformat(a["started_at"])
    # never faster than the speed; longer when a stalled machine made the station
    # re-anchor its clock (it does not burst to catch up), so no upper bound here
    assert span.total_seconds() >= (a["end_s"] - a["start_s"]) / SPEED - 0.01


def test_mp3_stream_has_icy_headers_and_decodes(srv: ServerThread) -> None:
    url = srv.urls["mounts"]["station1"]
    r = read_stream(url, 0.5)
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/mpeg"
    assert r.headers["icy-name"] == "Airtrack Demo FM 1"
    assert r.headers["icy-genre"] == "Pop"
    assert r.headers["icy-br"] == "128"
    assert "icy-metaint" not in r.headers
    with av.open(url, timeout=10) as c:
        assert c.metadata.get("icy-name") == "Airtrack Demo FM 1"
        n, peak = 0, 0.0
        for f in c.decode(audio=0):
            x = f.to_ndarray()
            n += f.samples
            peak = max(peak, float(np.abs(x).max()))
            if n > 5 * SR:
                break
    assert n > 5 * SR and peak > 0.05


def test_icy_metadata_blocks_carry_the_title(srv: ServerThread) -> None:
    r = read_stream(srv.urls["mounts"]["station2"], 1.5, {"Icy-MetaData": "1"})
    assert r.headers["icy-metaint"] == str(META_INT)
    data = r.content
    assert len(data) > 2 * META_INT + 600
    n = data[META_INT]
    block = data[META_INT + 1 : META_INT + 1 + 16 * n]
    assert block.startswith(b"StreamTitle='") and b"';" in block
    nxt = META_INT + 1 + 16 * n + META_INT
    assert data[nxt] * 16 < 4096  # second block: a valid length byte (usually 0: unchanged)
    # Without the metadata bytes the stream decodes as MP3.
    audio = data[:META_INT] + data[META_INT + 1 + 16 * n : nxt]
    assert len(decode_mp3(audio)) > SR


def _station_name(srv: ServerThread, mount: str) -> str:
    assert srv.server is not None
    return srv.server.stations[mount].config.name


def test_the_stations_titles_are_heard_in_their_encoding(srv: ServerThread) -> None:
    """The worker's capture hears what each station's metadata said."""
    heard: dict[str, list[TitleEvent]] = {"station1": [], "station2": []}
    for mount, got in heard.items():
        stop = threading.Event()
        blocks = capture(
            srv.urls["mounts"][mount],
            CaptureOptions(sample_rate=8000),
            stop,
            on_title=lambda _s, e, got=got: got.append(e),  # type: ignore[misc]
        )
        t_end = time.monotonic() + 12.0
        for _ in blocks:
            if time.monotonic() > t_end:
                stop.set()
        blocks.close()
    for mount, got in heard.items():
        truth = httpx.get(srv.urls["truth"][mount], timeout=10).json()
        said = {a["icy_title"] for a in truth["airings"]}
        enc = truth["icy_encoding"]
        assert got, mount
        # every title heard is one the station sent, decoded right
        assert {e.title for e in got} <= said | {_station_name(srv, mount)}, mount
        songs = [e for e in got if e.title and looks_like_song(e.title)]
        assert songs and all(e.encoding == enc for e in songs), (mount, enc, songs)
        if enc == "cp1252":
            assert all("\u2013" in (e.title or "") for e in songs)


def test_paced_in_real_time_with_a_small_burst(srv: ServerThread) -> None:
    t0 = time.monotonic()
    r = read_stream(srv.urls["mounts"]["station1"], 3.0)
    wall = time.monotonic() - t0
    expected = 3.0 * BYTES_PER_S + wall * SPEED * BYTES_PER_S  # burst + live
    assert 0.7 * expected < len(r.content) < 1.3 * expected, (len(r.content), expected)


def test_listeners_share_one_broadcast(srv: ServerThread) -> None:
    url = srv.urls["mounts"]["station2"]
    out: dict[str, httpx.Response] = {}
    joined = threading.Event()  # listener a has its answer: it is on air

    def listen_a() -> None:
        chunks: list[bytes] = []
        with httpx.stream("GET", url, timeout=10) as r:
            joined.set()
            end = time.monotonic() + 3.0
            for chunk in r.iter_raw():
                chunks.append(chunk)
                if time.monotonic() > end:
                    break
        r._content = b"".join(chunks)
        out["a"] = r

    a = threading.Thread(target=listen_a)
    a.start()
    assert joined.wait(10)
    time.sleep(1.0)  # b joins a second of wall time (4 s of programme) after a
    b = read_stream(url, 1.0)
    a.join()
    ta, tb = float(out["a"].headers["x-programme-time"]), float(b.headers["x-programme-time"])
    # the later listener joined later in the programme (each starts with the station's
    # burst of recent audio, which is shorter for a listener of a station just on air)
    assert tb > ta + 0.5, (ta, tb)
    probe = b.content[:4000]
    assert probe in out["a"].content  # byte-identical broadcast


def test_hls_playlist_is_live_and_decodes(srv: ServerThread) -> None:
    url = srv.urls["hls"]["station2"]
    time.sleep(2.5)  # let a few 3 s segments (0.75 s each at 4x) appear
    text = httpx.get(url, timeout=10).text
    assert text.startswith("#EXTM3U")
    assert "#EXT-X-ENDLIST" not in text
    target = int(text.split("#EXT-X-TARGETDURATION:")[1].split()[0])
    assert 2 <= target <= 4
    assert text.count(".ts") >= 2
    n = 0
    with av.open(url, timeout=10) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        for f in c.decode(audio=0):
            n += f.samples
            if n > 6 * SR:
                break
    assert n > 6 * SR


def test_status_lists_mounts_and_now_playing(srv: ServerThread) -> None:
    st = httpx.get(srv.urls["base_url"] + "/status-json.xsl", timeout=10).json()
    sources = st["icestats"]["source"]
    assert [s["mount"] for s in sources] == ["station1", "station2"]
    assert all(s["now_playing"]["kind"] in ("song", "other", "talk", "jingle") for s in sources)


def test_unknown_mount_is_404(srv: ServerThread) -> None:
    assert httpx.get(srv.urls["base_url"] + "/nope", timeout=5).status_code == 404
    assert httpx.get(srv.urls["base_url"] + "/truth/nope", timeout=5).status_code == 404


# -- fault mounts --------------------------------------------------------------------------


def test_fault_404(srv: ServerThread) -> None:
    url = srv.urls["faults"]["404"]
    assert httpx.get(url, timeout=5).status_code == 404
    with pytest.raises(av.error.HTTPNotFoundError):
        av.open(url, timeout=5)


def test_fault_html_page(srv: ServerThread) -> None:
    url = srv.urls["faults"]["html"]
    r = httpx.get(url, timeout=5)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert b"<html>" in r.content
    with pytest.raises(av.error.FFmpegError), av.open(url, timeout=5) as c:
        list(c.decode(audio=0))


def test_fault_truncated_mp3(srv: ServerThread) -> None:
    url = srv.urls["faults"]["truncated"] + "?kib=20"
    r = httpx.get(url, timeout=10)  # returns: the server closes after 20 KiB
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    assert len(r.content) == 20 * 1024
    pcm = decode_mp3(r.content)
    assert 0.8 * SR < len(pcm) < 1.5 * SR  # ~1.3 s at 128 kbps, then the stream just ends


def test_fault_endless_silence(srv: ServerThread) -> None:
    with av.open(srv.urls["faults"]["silence"], timeout=10) as c:
        n, peak = 0, 0.0
        for f in c.decode(audio=0):
            n += f.samples
            peak = max(peak, float(np.abs(f.to_ndarray()).max()))
            if n > 4 * SR:
                break
    assert n > 4 * SR and peak < 1e-3


def test_fault_stall_keeps_socket_open_silently(srv: ServerThread) -> None:
    got = 0
    t0 = time.monotonic()
    timeout = httpx.Timeout(5, read=1.5)
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream("GET", srv.urls["faults"]["stall"], timeout=timeout) as r,
    ):
        assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
        for chunk in r.iter_raw():
            got += len(chunk)
    assert got == 32 * 1024
    assert time.monotonic() - t0 >= 1.5


def test_fault_redirect_to_a_real_mount(srv: ServerThread) -> None:
    url = srv.urls["faults"]["redirect"]
    r = httpx.get(url, timeout=5, follow_redirects=False)
    assert r.status_code == 302
    assert r.headers["location"] == srv.urls["mounts"]["station1"]
    with av.open(url, timeout=10) as c:
        n = 0
        for f in c.decode(audio=0):
            n += f.samples
            if n > 2 * SR:
                break
    assert n > 2 * SR
