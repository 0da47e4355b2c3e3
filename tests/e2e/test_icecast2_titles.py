"""Against the real icecast2: titles set through its admin API reach the
worker's capture as ICY metadata, stripped from the audio and decoded right."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airtrack.metadata.icy import TitleEvent
from airtrack.worker.capture import CaptureOptions, capture
from tests.e2e.chaos_support import music_dir
from tests.e2e.icecast2_support import APT, MISSING, Icecast2

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)}: {APT}"),
]

TITLES = ["Daft Punk - Get Lucky", "Björk - Jóga", "Radio Airtrack FM"]


@pytest.fixture
def ice(e2e_cache: Path) -> Iterator[Icecast2]:
    server = Icecast2(music_dir(e2e_cache), mounts=["live"]).start()
    try:
        yield server
    finally:
        server.stop()


def test_icecast2_titles_reach_the_capture(ice: Icecast2) -> None:
    heard: list[tuple[float, TitleEvent]] = []
    stop = threading.Event()
    blocks = capture(
        ice.urls["live"],
        CaptureOptions(sample_rate=8000),
        stop,
        on_title=lambda s, e: heard.append((s, e)),
    )
    samples = 0
    next_title = time.monotonic() + 1.0
    pending = list(TITLES)
    deadline = time.monotonic() + 40.0
    try:
        for block in blocks:
            samples += block.size
            if pending and time.monotonic() >= next_title:
                ice.set_title("live", pending.pop(0))
                next_title = time.monotonic() + 3.0
            if not pending and {e.title for _, e in heard} >= set(TITLES):
                break
            assert time.monotonic() < deadline, f"titles heard: {heard}"
    finally:
        stop.set()
        blocks.close()
    titles = [e.title for _, e in heard if e.title in TITLES]
    assert titles == TITLES
    # in stream order, at stream times within what was decoded
    times = [s for s, e in heard if e.title in TITLES]
    assert times == sorted(times) and times[-1] <= samples / 8000 + 1.0
