"""A worker's home, with real `airtrack worker` processes: one process per home and id,
and what a stop does with the plays still queued while the orchestrator was unreachable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from airtrack.demo.cluster import Cluster, free_port
from airtrack.protocol import PlayIn, TitleIn
from airtrack.worker.outbox import Outbox
from tests.integration.test_worker_e2e_support import Api, cluster_env, events, until
from tests.support.processes import spawn

pytestmark = pytest.mark.e2e


def _worker(home: Path, url: str, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env.update(
        AIRTRACK_HOME=str(home),
        AIRTRACK_LOG_JSON="true",
        AIRTRACK_WORKER_TOKEN="t" * 16,
        PYTHONUNBUFFERED="1",
        **extra,
    )
    with open(log, "ab") as fh:
        return spawn(
            [sys.executable, "-m", "airtrack", "worker", "--orchestrator", url],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_a_second_worker_on_the_same_home_exits_at_once_naming_the_holder(
    tmp_path: Path,
) -> None:
    """Two workers under one home would share one id: the second must refuse to start."""
    home = tmp_path / "home"
    url = f"http://127.0.0.1:{free_port()}"  # nobody there: the first runs in local mode
    first = _worker(home, url, tmp_path / "first.log")
    procs = [first]
    try:
        locks = until(
            lambda: [p for p in home.glob("worker-*/worker.lock") if p.read_text().strip()],
            60,
            "the first worker holds its home",
        )
        assert locks[0].read_text().strip() == str(first.pid)

        second = _worker(home, url, tmp_path / "second.log")
        procs.append(second)
        rc = second.wait(timeout=60)
        said = (tmp_path / "second.log").read_text()
        assert rc != 0, said
        assert f"in use by process {first.pid}" in said, said
        assert first.poll() is None, "the first worker runs on"
        assert locks[0].read_text().strip() == str(first.pid)

        # Once the first has stopped, the home is free again (the kernel dropped the lock).
        _stop(first)
        third = _worker(home, url, tmp_path / "third.log")
        procs.append(third)
        until(
            lambda: locks[0].read_text().strip() == str(third.pid),
            60,
            "a new worker takes the freed home",
        )
        assert third.poll() is None
    finally:
        for p in procs:
            _stop(p)


def _queue(home: Path, worker_id: str, sid: int, track: int, n: int) -> list[str]:
    """Plays (and one title) put in the worker's outbox as its pipelines would."""
    outbox = Outbox(home / f"worker-{worker_id}" / "outbox.sqlite")
    keys = []
    try:
        now = datetime.now(UTC)
        for i in range(n):
            key = uuid.uuid4().hex
            start = now - timedelta(minutes=10 * (n - i))
            outbox.put(
                PlayIn(
                    key=key,
                    stream_id=sid,
                    epoch=1,
                    track_id=track,
                    started_at=start,
                    ended_at=start + timedelta(minutes=3),
                    confidence=0.9,
                )
            )
            keys.append(key)
        outbox.titles.put(
            TitleIn(key=uuid.uuid4().hex, stream_id=sid, epoch=1, at=now, title="Artist - Song")
        )
    finally:
        outbox.close()
    return keys


def _stored(db_url: str, keys: list[str]) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM plays WHERE idempotency_key = ANY(%s)", (keys,)
        ).fetchone()
    return int(row[0]) if row else 0


def _breaker_open(cluster: Cluster, name: str, after: int) -> bool:
    evs = events(cluster, name)[after:]
    return any(e["event"] == "circuit_breaker" and e.get("new") == "open" for e in evs)


def test_stop_with_the_breaker_open_flushes_once_and_says_what_stays(
    tmp_path: Path, db_url: str
) -> None:
    """A stop tries the outbox once more through an open breaker (the orchestrator may be
    back), and says how many plays and titles stay queued, and in which file."""
    env = cluster_env(
        db_url,
        AIRTRACK_HEARTBEAT_INTERVAL_S="10",
        AIRTRACK_HEARTBEAT_RETRY_BASE_S="8",  # the heartbeat must not reconnect first
        AIRTRACK_BREAKER_OPEN_S="60",
        AIRTRACK_BREAKER_FAILURES="1",
    )
    wid = "stop-w1"
    with Cluster(tmp_path / "home", env=env) as cluster:
        port = free_port()
        api = Api(cluster.start_orchestrator(port=port).info["url"])
        sid = api.add_stream("radio", "http://127.0.0.1:9/none")
        with psycopg.connect(db_url, autocommit=True) as conn:
            row = conn.execute(
                "INSERT INTO tracks (title, artist, source, duration_s, content_sha256) "
                "VALUES ('Song', 'Artist', 'x.mp3', 180, %s) RETURNING id",
                (uuid.uuid4().hex,),
            ).fetchone()
        assert row is not None
        track = int(row[0])
        cluster.start_worker(wid, capacity=2)
        until(lambda: api.owners().get(sid, (None,))[0] == wid, 60, "the worker owns the stream")

        # The orchestrator goes away; plays pile up; the worker's breaker opens.
        cluster.procs["orchestrator"].stop()
        seen = len(events(cluster, wid))
        keys = _queue(cluster.home, wid, sid, track, 3)
        until(lambda: _breaker_open(cluster, wid, seen), 60, "the worker's breaker opens")

        # It is back, and the worker is stopped before its breaker would let anything by.
        cluster.start_orchestrator(name="orchestrator-again", port=port)
        cluster.procs[wid].stop()
        assert _stored(db_url, keys) == 3, "the stop delivered the queued plays"
        left = [e for e in events(cluster, wid) if e["event"] == "outbox_left_queued"]
        assert left == [], left

        # Now with the orchestrator still down at the stop: nothing can go; it says so.
        cluster.procs["orchestrator-again"].stop()
        more = _queue(cluster.home, wid, sid, track, 2)
        seen = len(events(cluster, wid))
        cluster.start_worker(wid, capacity=2)
        until(lambda: _breaker_open(cluster, wid, seen), 60, "the worker's breaker opens")
        cluster.procs[wid].signal(signal.SIGTERM)
        t0 = time.monotonic()
        until(lambda: not cluster.procs[wid].alive(), 60, "the worker stops")
        print(f"stopped in {time.monotonic() - t0:.1f} s")
        left = [e for e in events(cluster, wid)[seen:] if e["event"] == "outbox_left_queued"]
        assert len(left) == 1, events(cluster, wid)[seen:]
        said: dict[str, Any] = left[0]
        outbox = cluster.home / f"worker-{wid}" / "outbox.sqlite"
        assert (said["plays"], said["titles"], said["outbox"]) == (2, 1, str(outbox))
        assert said["plays_by_stream"] == {str(sid): 2}
        assert _stored(db_url, more) == 0
