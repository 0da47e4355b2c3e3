"""Backup URLs: which URL a stream opens (pure properties), and a pipeline on real HTTP
stations that falls back to a backup and returns to the main URL when it answers."""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from airtrack.protocol import Assignment
from airtrack.worker.capture import CaptureOptions
from airtrack.worker.failover import UrlRotation
from airtrack.worker.outbox import Outbox
from airtrack.worker.pipeline import PipelineConfig, StreamPipeline
from tests.support.wait import until
from tests.unit.test_worker_support import StationServer, encode, tone

urls = st.lists(st.text("abc", min_size=1, max_size=3), min_size=1, max_size=5, unique=True)


def _wait(cond: Callable[[], bool], timeout: float) -> bool:
    """Kept for tests written against it (``assert _wait(...)``): :func:`until`."""
    try:
        until(cond, timeout, "condition")
    except AssertionError:
        return False
    return True


@given(urls, st.integers(1, 4))
def test_failures_walk_every_url_in_order_and_wrap(us: list[str], n: int) -> None:
    r = UrlRotation(us, n, 60.0)
    seen = []
    for _ in range(len(us) * 2):
        seen.append(r.current)
        for i in range(n):
            moved = r.failed(0.0)
            assert moved == (i == n - 1 and len(us) > 1)
    assert seen == (us * 2 if len(us) > 1 else [us[0]] * 2)


@given(urls, st.integers(1, 4), st.lists(st.booleans(), max_size=30))
def test_a_healthy_connection_forgives_failures(us: list[str], n: int, ok: list[bool]) -> None:
    r = UrlRotation(us, n, 60.0)
    run = 0
    for good in ok:
        before = r.current
        if good:
            r.healthy()
            run = 0
            assert r.current == before
        else:
            run += 1
            moved = r.failed(0.0)
            if moved:
                run = 0
            assert moved == (len(us) > 1 and run == 0)
        assert 0 <= r.index < len(r.urls)


@given(st.floats(1.0, 1000.0), st.lists(st.floats(0.0, 5000.0), max_size=20))
def test_the_main_url_is_probed_once_per_period_only_on_a_backup(
    period: float, times: list[float]
) -> None:
    r = UrlRotation(["main", "backup"], 1, period)
    assert not r.probe_due(1e9)  # on the main URL: nothing to probe
    r.failed(0.0)
    assert r.on_backup
    last = 0.0
    for t in sorted(times):
        if r.probe_due(t):
            assert t - last >= period
            last = t
    r.back_to_primary()
    assert r.current == "main" and not r.probe_due(1e9)


def test_a_permanent_failure_moves_at_once() -> None:
    r = UrlRotation(["main", "b1", "b2"], 5, 60.0)
    assert r.failed(0.0, permanent=True) and r.current == "b1"


class _Switchable(StationServer):
    """``/main.mp3`` hangs up without answering while ``main_down``; ``/backup.mp3`` plays."""

    main_down = True

    def _route(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        if path == "/main.mp3":
            if self.main_down:
                h.close_connection = True  # no status line at all: a transient network error
                return
            self._stream(h, self.live)
        elif path == "/backup.mp3":
            self._stream(h, self.live)
        else:
            super()._route(h)


def test_pipeline_falls_back_to_the_backup_and_returns_to_main(tmp_path: Path) -> None:
    config = PipelineConfig(
        capture=CaptureOptions(sample_rate=8000, read_timeout_s=1.0, connect_timeout_s=1.0),
        reconnect_base_s=0.05,
        reconnect_cap_s=0.2,
        fail_after=2,
        failover_after=2,
        primary_retry_s=0.5,
    )
    box = Outbox(tmp_path / "o.sqlite")
    with _Switchable(encode(tone(20.0))) as s:
        a = Assignment(
            stream_id=1,
            name="s1",
            url=s.url("/main.mp3"),
            epoch=1,
            backup_urls=[s.url("/backup.mp3")],
        )
        p = StreamPipeline(a, box, None, config)
        p.start()
        try:
            until(
                lambda: p.report().url_in_use == s.url("/backup.mp3") and p.status == "running",
                30,
                "running on the backup URL",
            )
            assert s.hits.get("/main.mp3", 0) >= 2  # it gave the main URL its chances first
            probes = s.hits["/main.mp3"]
            until(lambda: s.hits["/main.mp3"] > probes, 15, "the main URL probed on backup")
            assert p.report().url_in_use == s.url("/backup.mp3")
            s.main_down = False
            until(
                lambda: p.report().url_in_use == s.url("/main.mp3") and p.status == "running",
                30,
                "back on the main URL",
            )
        finally:
            p.stop()
            assert p.join(15)
        box.close()


def test_new_backup_urls_restart_the_stream() -> None:
    from airtrack.worker.reconcile import RunningInfo, reconcile

    running = {1: RunningInfo(1, 3, "http://a/1", ("http://b/1",))}
    same = Assignment(stream_id=1, name="s", url="http://a/1", epoch=3, backup_urls=["http://b/1"])
    moved = same.model_copy(update={"backup_urls": ["http://c/1"]})
    assert reconcile([same], running) == []
    assert [a.kind for a in reconcile([moved], running)] == ["restart"]
