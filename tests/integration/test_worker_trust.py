"""What a worker token may do, and malformed input (docs/security.md).

Each test runs a real orchestrator process on loopback against a real PostgreSQL and
speaks HTTP to it the way a compromised or buggy worker (or a careless operator) would.
"""

from __future__ import annotations

import random
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from airtrack.protocol import CREDENTIAL_HEADER
from tests.support.orchestrator import Replica
from tests.support.tokens import ADMIN, WORKER
from tests.support.wait import until

Start = Callable[..., Replica]


@pytest.fixture
def start(db_url: str, tmp_path: Path) -> Iterator[Start]:
    """Start one orchestrator process (extra ``AIRTRACK_*`` settings as keywords)."""
    started: list[Replica] = []

    def go(**env: str) -> Replica:
        extra = {f"AIRTRACK_{k.upper()}": v for k, v in env.items()}
        rep = Replica(db_url, tmp_path / "home", tmp_path / "orchestrator.log", extra)
        started.append(rep)
        rep.wait_ready()
        return rep

    try:
        yield go
    finally:
        for rep in started:
            rep.stop()


def _client(rep: Replica, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{rep.url}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=15
    )


def _own(worker: httpx.Client, wid: str, want: int, capacity: int = 5) -> dict[int, int]:
    """Register ``wid`` and heartbeat until it holds ``want`` streams: {stream id: epoch}."""
    r = worker.post("/workers/register", json={"worker_id": wid, "capacity": capacity})
    assert r.status_code == 200, r.text
    running = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}
    for _ in range(100):
        if len(running) >= want:
            return running
        time.sleep(0.2)
        streams = [{"stream_id": s, "epoch": e} for s, e in running.items()]
        r = worker.post(f"/workers/{wid}/heartbeat", json={"streams": streams})
        assert r.status_code == 200, r.text
        running = {a["stream_id"]: a["epoch"] for a in r.json()["assignments"]}
    raise AssertionError(f"{wid} never got {want} streams: {running}")


def _counted_patterns(rep: Replica) -> dict[str, float]:
    """``airtrack_error_patterns`` by source: errors counted as they were reported."""
    text = httpx.get(f"{rep.url}/metrics", timeout=15).text
    return {
        s["source"]: v
        for fam in text_string_to_metric_families(text)
        for s, v in ((x.labels, x.value) for x in fam.samples)
        if fam.name == "airtrack_error_patterns"
    }


def _patterns_flushed(rep: Replica, db_url: str) -> bool:
    """An ops step has written every error counted so far to ``error_patterns``."""
    counted = sum(_counted_patterns(rep).values())
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT coalesce(sum(count), 0) FROM error_patterns").fetchone()
    return counted > 0 and row is not None and row[0] == counted


def _track(db_url: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO tracks (title, artist, source, duration_s, content_sha256) "
            "VALUES ('Song', 'Artist', 'x.mp3', 180, %s) RETURNING id",
            (uuid.uuid4().hex,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _play(sid: int, epoch: int, track: int, **kw: Any) -> dict[str, Any]:
    play = {
        "key": uuid.uuid4().hex,
        "stream_id": sid,
        "epoch": epoch,
        "track_id": track,
        "started_at": datetime.now(UTC).isoformat(),
        "confidence": 0.9,
    }
    play.update(kw)
    return play


def _word() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=10))


def _series(text: str, name: str) -> list[dict[str, str]]:
    return [
        s.labels
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == name
    ]


def test_heartbeat_metrics_keep_known_names_and_leave_with_the_worker(start: Start) -> None:
    """Item 1: random metric names make no series; a departed worker's series go."""
    rep = start()
    with _client(rep, WORKER) as worker:
        assert worker.post("/workers/register", json={"worker_id": "w1", "capacity": 1}).is_success
        junk = {f"junk{i}_{uuid.uuid4().hex[:8]}": float(i) for i in range(60)}
        r = worker.post(
            "/workers/w1/heartbeat",
            json={"streams": [], "metrics": {**junk, "outbox_pending": 3.0}},
        )
        assert r.status_code == 200, r.text
        flood = {f"k{i}": 1.0 for i in range(20_000)}
        r = worker.post("/workers/w1/heartbeat", json={"streams": [], "metrics": flood})
        assert r.status_code == 422  # a bounded object, refused before anything is stored
        text = httpx.get(f"{rep.url}/metrics", timeout=15).text
        mine = [s for s in _series(text, "airtrack_worker_reported") if s["worker"] == "w1"]
        assert {s["metric"] for s in mine} == {"outbox_pending"}
        assert worker.post("/workers/w1/deregister").status_code == 200
        text = httpx.get(f"{rep.url}/metrics", timeout=15).text
        assert not [s for s in _series(text, "airtrack_worker_reported") if s["worker"] == "w1"]


def test_a_play_is_bound_to_its_sender_and_to_the_servers_clock(start: Start, db_url: str) -> None:
    """Item 2: another worker's stream is refused; unknown tracks and wild dates are 422."""
    rep = start()
    track = _track(db_url)
    with _client(rep, ADMIN) as admin, _client(rep, WORKER) as worker:
        for i in range(2):
            r = admin.post("/streams", json={"name": f"s{i}", "url": f"http://127.0.0.1:9/{i}"})
            assert r.status_code == 201, r.text
        a = _own(worker, "a", 1, capacity=1)
        b = _own(worker, "b", 1, capacity=1)
        (sid_a, epoch_a), (sid_b, epoch_b) = next(iter(a.items())), next(iter(b.items()))
        # b speaks about a's stream at a's epoch: refused, nothing recorded under a's name
        r = worker.post("/plays", json={"worker_id": "b", "plays": [_play(sid_a, epoch_a, track)]})
        assert r.status_code == 409 and r.json()["results"][0]["status"] == "stale"
        r = worker.post("/plays", json={"plays": [_play(sid_a, epoch_a, track)]})
        assert r.status_code == 422  # the sender is part of the request
        now = datetime.now(UTC)
        bad = [
            _play(sid_b, epoch_b, track + 1000),  # no such track
            _play(sid_b, epoch_b, track, started_at="9999-12-31T00:00:00+00:00"),
            _play(sid_b, epoch_b, track, started_at="0001-01-02T00:00:00+00:00"),
            _play(
                sid_b,
                epoch_b,
                track,
                started_at=(now - timedelta(days=3)).isoformat(),
                ended_at=(now - timedelta(days=3) + timedelta(days=3650)).isoformat(),
            ),
            _play(sid_b, epoch_b, track, started_at=(now + timedelta(hours=1)).isoformat()),
        ]
        for play in bad:
            r = worker.post("/plays", json={"worker_id": "b", "plays": [play]})
            assert r.status_code == 422, (play, r.status_code, r.text)
        r = worker.post("/plays", json={"worker_id": "b", "plays": [_play(sid_b, epoch_b, track)]})
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "stored"
        rows = admin.get("/plays").json()
        assert [(p["stream_id"], p["worker_id"], p["track_id"]) for p in rows] == [
            (sid_b, "b", track)
        ]


def test_floods_from_one_worker_stay_bounded(start: Start, db_url: str) -> None:
    """Item 3: capacity, new ids, error patterns and stale plays are bounded per worker."""
    rep = start(worker_new_ids_per_min="5", stream_errors_per_heartbeat="10")
    track = _track(db_url)
    with _client(rep, ADMIN) as admin, _client(rep, WORKER) as worker:
        r = worker.post("/workers/register", json={"worker_id": "big", "capacity": 100_000})
        assert r.status_code == 422
        r = worker.post("/workers/register", json={"worker_id": "n0", "capacity": 1})
        assert r.status_code == 200
        bogus = [{"stream_id": 10_000 + i, "epoch": 1} for i in range(1001)]
        r = worker.post("/workers/n0/heartbeat", json={"streams": bogus})
        assert r.status_code == 422  # a report longer than any worker's capacity
        codes = [
            worker.post("/workers/register", json={"worker_id": f"n{i}", "capacity": 1}).status_code
            for i in range(1, 13)
        ]
        assert codes.count(200) <= 6 and codes.count(429) >= 6, codes
        for i, code in enumerate(codes, start=1):
            if code == 200:  # silent workers would count as missed heartbeats: let them go
                assert worker.post(f"/workers/n{i}/deregister").status_code == 200
        # an id the store knows registers again whatever the rate
        assert worker.post("/workers/register", json={"worker_id": "n0", "capacity": 1}).is_success
        # 20 heartbeats × 100 random errors about streams that do not exist
        for _ in range(20):
            streams = [
                {
                    "stream_id": 10_000 + i,
                    "epoch": 1,
                    "status": "failed",
                    "error": f"boom {_word()} {_word()}",  # letters: one signature each
                }
                for i in range(100)
            ]
            r = worker.post("/workers/n0/heartbeat", json={"streams": streams})
            assert r.status_code == 200, r.text
        # one worker sends stale plays over and over (an old epoch of a stream it owns)
        r = admin.post("/streams", json={"name": "s0", "url": "http://127.0.0.1:9/0"})
        assert r.status_code == 201, r.text
        owned = _own(worker, "n0", 1)
        (sid, epoch) = next(iter(owned.items()))
        for _ in range(30):
            r = worker.post(
                "/plays", json={"worker_id": "n0", "plays": [_play(sid, epoch + 50, track)]}
            )
            assert r.status_code == 409
        # an ops step after the stale plays has flushed every error it counted, and the
        # same step decided on recovery mode
        until(lambda: _patterns_flushed(rep, db_url), 30, "the errors counted are flushed")
        r = worker.post("/workers/n0/heartbeat", json={"streams": []})
        assert r.status_code == 200 and r.json()["recovery_mode"] is False
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM error_patterns").fetchone()
        recovery = conn.execute("SELECT value FROM control_state WHERE key = 'recovery'").fetchone()
        stale = conn.execute(
            "SELECT coalesce(sum(count), 0) FROM error_patterns WHERE source = 'plays.stale'"
        ).fetchone()
    assert row is not None and row[0] <= 10
    assert stale is not None and stale[0] >= 1, "the stale plays were counted"
    # no row: recovery mode never turned on (a row is written when it turns on or off)
    assert recovery is None or not recovery[0].get("on"), recovery


def test_error_patterns_stay_bounded_for_streams_a_worker_runs(start: Start, db_url: str) -> None:
    """Item 3: errors a worker may report are counted a few per heartbeat, in few rows."""
    rep = start(stream_errors_per_heartbeat="2", error_patterns_max="5")
    with _client(rep, ADMIN) as admin, _client(rep, WORKER) as worker:
        for i in range(3):
            r = admin.post("/streams", json={"name": f"s{i}", "url": f"http://127.0.0.1:9/{i}"})
            assert r.status_code == 201, r.text
        owned = _own(worker, "e0", 3)
        for _ in range(15):
            streams = [
                {"stream_id": s, "epoch": e, "status": "retrying", "error": f"boom {_word()}"}
                for s, e in owned.items()
            ]
            r = worker.post("/workers/e0/heartbeat", json={"streams": streams})
            assert r.status_code == 200, r.text
        assert worker.post("/workers/e0/deregister").status_code == 200  # no missed beats
        until(lambda: _patterns_flushed(rep, db_url), 30, "every pattern flushed")
        counted = _counted_patterns(rep)
    assert counted["stream"] == 15 * 2  # 2 of the 3 new errors of each heartbeat
    with psycopg.connect(db_url) as conn:
        rows = dict(conn.execute("SELECT signature, count FROM error_patterns").fetchall())
    assert len(rows) <= 5 + 1 and rows["(overflow)"] >= 15 * 2 - 5
    assert sum(rows.values()) == sum(counted.values())  # nothing lost, only folded


def test_public_bind_needs_strong_different_tokens(tmp_path: Path) -> None:
    """Item 4: equal or weak tokens on 0.0.0.0 stop the orchestrator before it listens."""
    base = {
        "AIRTRACK_HOME": str(tmp_path),
        "AIRTRACK_LOG_JSON": "true",
        "PATH": "/usr/bin:/bin",
        # never reached when the tokens are refused; without the check the start fails
        # here, on the database, before anything could listen on 0.0.0.0
        "AIRTRACK_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
        "AIRTRACK_DB_RECONNECT_ATTEMPTS": "1",
    }
    cmd = [sys.executable, "-m", "airtrack", "orchestrator", "--host", "0.0.0.0", "--port", "9"]
    strong = "S" + uuid.uuid4().hex + uuid.uuid4().hex
    cases = {
        "equal": ("a", "a"),
        "weak": ("a", "b"),
        "one weak": (strong, "short-token"),
        "equal strong": (strong, strong),
    }
    for case, (adm, wrk) in cases.items():
        env = {**base, "AIRTRACK_ADMIN_TOKEN": adm, "AIRTRACK_WORKER_TOKEN": wrk}
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0, case
        assert "_TOKEN" in done.stderr, (case, done.stderr)
    made = subprocess.run(
        [sys.executable, "-m", "airtrack", "tokens", "new"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    from airtrack.startup.orchestrator import weak_token

    lines = dict(line.split("=", 1) for line in made.stdout.split())
    assert set(lines) == {"AIRTRACK_ADMIN_TOKEN", "AIRTRACK_WORKER_TOKEN"}
    assert lines["AIRTRACK_ADMIN_TOKEN"] != lines["AIRTRACK_WORKER_TOKEN"]
    assert all(weak_token(t, 32) is None for t in lines.values())


MALFORMED: list[tuple[str, str, str, bytes | None]] = [
    ("worker", "POST", "/workers/register", b'{"worker_id": "m1", "capacity": NaN}'),
    ("worker", "POST", "/workers/register", b'{"worker_id": "m1", "capacity": Infinity}'),
    (
        "worker",
        "POST",
        "/workers/m0/heartbeat",
        b'{"streams": [{"stream_id": 1, "epoch": 1, "lag_s": Infinity}]}',
    ),
    ("worker", "POST", "/workers/m0/heartbeat", b'{"streams": [], "metrics": {"cpu_s": NaN}}'),
    ("admin", "DELETE", "/streams/a%00b", None),
    ("admin", "GET", "/plays?stream=a%00b", None),
    ("admin", "DELETE", "/streams/by-id/a%00b", None),
    ("admin", "POST", "/streams", b'{"name": "x\\u0000y", "url": "http://127.0.0.1:9/x"}'),
]


def test_malformed_input_is_4xx_never_500(start: Start, db_url: str) -> None:
    """Item 5: NaN/Infinity, NUL bytes, reversed plays: 4xx, and the server stays well."""
    rep = start()
    track = _track(db_url)
    with _client(rep, ADMIN) as admin, _client(rep, WORKER) as worker:
        assert admin.post("/streams", json={"name": "s0", "url": "http://127.0.0.1:9/0"}).is_success
        (sid, epoch) = next(iter(_own(worker, "m0", 1).items()))
        who = {"admin": admin, "worker": worker}
        for role, method, path, body in MALFORMED:
            headers = {"Content-Type": "application/json"}
            r = who[role].request(method, path, content=body, headers=headers)
            assert 400 <= r.status_code < 500, (method, path, body, r.status_code, r.text)
        play = _play(sid, epoch, track, confidence=0.5)
        raw = httpx.Request("POST", "x", json={"worker_id": "m0", "plays": [play]}).content
        for bad in (b'"confidence": NaN', b'"confidence": Infinity', b'"confidence": -Infinity'):
            body = raw.replace(b'"confidence":0.5', bad).replace(b'"confidence": 0.5', bad)
            assert bad in body
            r = worker.post("/plays", content=body, headers={"Content-Type": "application/json"})
            assert r.status_code == 422, (bad, r.text)
        now = datetime.now(UTC)
        reversed_play = _play(
            sid,
            epoch,
            track,
            started_at=now.isoformat(),
            ended_at=(now - timedelta(minutes=1)).isoformat(),
        )
        r = worker.post("/plays", json={"worker_id": "m0", "plays": [reversed_play]})
        assert r.status_code == 422 and "ended_at" in r.text
        assert httpx.get(f"{rep.url}/healthz", timeout=5).status_code == 200


def test_stream_names_and_urls_follow_the_policy(start: Start) -> None:
    """Item 6: one URL once, bounded printable names and URLs, no metadata targets, by id."""
    rep = start()
    with _client(rep, ADMIN) as admin:
        r = admin.post("/streams", json={"name": "one", "url": "http://127.0.0.1:9/live"})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        r = admin.post("/streams", json={"name": "two", "url": "http://127.0.0.1:9/live"})
        assert r.status_code == 409 and "one" in r.text
        refused = [
            {"name": "long", "url": "http://127.0.0.1:9/" + "x" * 100_000},
            {"name": "bell\x07", "url": "http://127.0.0.1:9/a"},
            {"name": "esc\x1b[31m", "url": "http://127.0.0.1:9/b"},
            {"name": "a/b", "url": "http://127.0.0.1:9/c"},
            {"name": " padded", "url": "http://127.0.0.1:9/d"},
            {"name": "meta", "url": "http://169.254.169.254/latest/meta-data/"},
            {"name": "meta6", "url": "http://[::ffff:169.254.169.254]/"},
            {"name": "ll6", "url": "http://[fe80::1]/x"},
            {"name": "gce", "url": "http://metadata.google.internal/computeMetadata/v1/"},
            {"name": "ftp", "url": "ftp://127.0.0.1/x"},
            {"name": "file", "url": "file:///etc/passwd"},
        ]
        for body in refused:
            r = admin.post("/streams", json=body)
            assert r.status_code == 422, (body["name"], r.status_code, r.text[:200])
        assert [s["name"] for s in admin.get("/streams").json()] == ["one"]
        assert admin.delete(f"/streams/by-id/{sid}").json() == {"removed": "one", "id": sid}
        assert admin.delete(f"/streams/by-id/{sid}").status_code == 404
        assert admin.get("/streams").json() == []


def test_link_local_streams_are_opt_in(start: Start) -> None:
    """Item 6: an operator who means it can monitor a link-local source."""
    rep = start(stream_allow_link_local="true")
    with _client(rep, ADMIN) as admin:
        r = admin.post("/streams", json={"name": "ll", "url": "http://169.254.10.20:8000/live"})
        assert r.status_code == 201, r.text


def test_a_worker_credential_keeps_other_workers_out(start: Start, db_url: str) -> None:
    """Item 2: with the fleet token alone, nobody speaks for a worker holding a credential."""
    rep = start()
    track = _track(db_url)
    mine, theirs = "c" * 8 + uuid.uuid4().hex * 2, "t" * 8 + uuid.uuid4().hex * 2
    with _client(rep, ADMIN) as admin, _client(rep, WORKER) as worker:
        assert admin.post("/streams", json={"name": "s0", "url": "http://127.0.0.1:9/0"}).is_success
        worker.headers[CREDENTIAL_HEADER] = mine
        (sid, epoch) = next(iter(_own(worker, "victim", 1).items()))
        # the thief has the fleet token and knows the id, stream and epoch
        thief: dict[str, str] = {CREDENTIAL_HEADER: theirs}
        for headers in (thief, {}):
            with _client(rep, WORKER) as other:
                other.headers.update(headers)
                body = {"worker_id": "victim", "plays": [_play(sid, epoch, track)]}
                assert other.post("/plays", json=body).status_code == 403
                assert other.post("/workers/victim/heartbeat", json={}).status_code == 403
                assert other.post("/workers/victim/deregister").status_code == 403
                again = {"worker_id": "victim", "capacity": 1}
                assert other.post("/workers/register", json=again).status_code == 403
        # the victim is untouched and still speaks for itself
        body = {"worker_id": "victim", "plays": [_play(sid, epoch, track)]}
        r = worker.post("/plays", json=body)
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "stored"
        assert worker.post(
            "/workers/register", json={"worker_id": "victim", "capacity": 1}
        ).is_success
        # a lost HOME: the admin resets the credential, a new one claims the id
        assert admin.delete("/workers/victim/credential").status_code == 200
        with _client(rep, WORKER) as replaced:
            replaced.headers[CREDENTIAL_HEADER] = theirs
            r = replaced.post("/workers/register", json={"worker_id": "victim", "capacity": 1})
            assert r.status_code == 200, r.text
        r = worker.post("/workers/victim/heartbeat", json={})
        assert r.status_code == 403
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT sha256 FROM worker_credentials").fetchall()
    assert stored and all(theirs not in row[0] and mine not in row[0] for row in stored)
