"""Decoding with real PyAV: formats, URLs on 127.0.0.1, and every bad-input case."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from airtrack.errors import AudioError
from airtrack.fingerprint import SAMPLE_RATE, decode, decode_ahead, probe_duration, read_tags
from tests.unit._synth_music import song

FFMPEG = shutil.which("ffmpeg")


def _wav(path: Path, x: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _wav(tmp_path_factory.mktemp("a") / "song.wav", song(7, 10.0))


def test_wav_decodes_in_blocks_at_engine_rate(wav: Path) -> None:
    blocks = list(decode(wav, block_s=3.0))
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    assert [b.shape[0] for b in blocks[:-1]] == [3 * SAMPLE_RATE] * (len(blocks) - 1)
    assert sum(b.shape[0] for b in blocks) == pytest.approx(10 * SAMPLE_RATE, abs=400)


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg missing")
@pytest.mark.parametrize("ext", ["mp3", "ogg", "flac", "m4a", "opus"])
def test_compressed_formats_and_tags(wav: Path, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"Ünïcode name.{ext}"
    rate = "48000" if ext == "opus" else "44100"
    subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(wav), "-ar", rate, "-ac", "2",
         "-metadata", "title=Blue Song", "-metadata", "artist=The Tests", str(out)],
        check=True,
    )  # fmt: skip
    total = sum(b.shape[0] for b in decode(out)) / SAMPLE_RATE
    assert total == pytest.approx(10.0, abs=0.2)
    assert read_tags(out) == ("Blue Song", "The Tests")
    assert probe_duration(out) == pytest.approx(10.0, abs=0.2)  # every one of them says


def test_bad_inputs_give_one_line_reasons(tmp_path: Path, wav: Path) -> None:
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all\n" * 50)
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    short = _wav(tmp_path / "short.wav", song(1, 1.0))
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(wav.read_bytes()[:30])
    cases = {
        text: "cannot",
        empty: "empty file",
        short: "only 1.0 s",
        truncated: "",
        tmp_path / "missing.ogg": "no such file",
        tmp_path: "directory",
    }
    for path, words in cases.items():
        with pytest.raises(AudioError) as info:
            list(decode(path))
        message = str(info.value)
        assert "\n" not in message and words in message, message


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg missing")
def test_file_without_audio_stream(tmp_path: Path) -> None:
    video = tmp_path / "video.mkv"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=16x16:d=1",
         "-c:v", "ffv1", str(video)],
        check=True,
    )  # fmt: skip
    with pytest.raises(AudioError, match="no audio stream"):
        list(decode(video))


@pytest.fixture()
def http_root(tmp_path: Path, wav: Path) -> Iterator[str]:
    shutil.copy(wav, tmp_path / "live.wav")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, directory=str(tmp_path), **k)  # type: ignore[misc,arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_url_decodes(http_root: str) -> None:
    total = sum(b.shape[0] for b in decode(f"{http_root}/live.wav")) / SAMPLE_RATE
    assert total == pytest.approx(10.0, abs=0.1)
    with pytest.raises(AudioError):
        list(decode(f"{http_root}/missing.mp3"))


def test_stalled_socket_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the TCP connection, never answers
    try:
        t0 = time.monotonic()
        with pytest.raises(AudioError):
            list(decode(f"http://127.0.0.1:{listener.getsockname()[1]}/s.mp3",
                        open_timeout_s=1.0, read_timeout_s=1.0))  # fmt: skip
        assert time.monotonic() - t0 < 8
    finally:
        listener.close()


def test_decode_ahead_gives_the_same_blocks_and_errors(tmp_path: Path) -> None:
    """The decode-ahead thread hands over decode's own blocks, in order, and its errors
    where decode raises them: a file broken after good audio gives its blocks first."""
    x = song(9, 40.0)
    whole = _wav(tmp_path / "whole.wav", x)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(decode_ahead(whole, block_s=3.0), decode(whole, block_s=3.0), strict=True)
    )
    short = _wav(tmp_path / "short.wav", song(1, 1.0))
    with pytest.raises(AudioError, match=r"only 1\.0 s"):
        list(decode_ahead(short))
    with pytest.raises(AudioError, match="no such file"):
        list(decode_ahead(tmp_path / "missing.ogg"))


def test_decode_ahead_stops_its_thread_when_the_caller_stops(tmp_path: Path) -> None:
    x = song(9, 40.0)
    path = _wav(tmp_path / "long.wav", x)
    blocks = decode_ahead(path, block_s=1.0)
    first = next(blocks)
    assert first.shape[0] == SAMPLE_RATE
    assert any(t.name == "airtrack-decode-ahead" for t in threading.enumerate())
    blocks.close()  # the caller gives up after one block (the queue is full meanwhile)
    assert not any(t.name == "airtrack-decode-ahead" for t in threading.enumerate())
