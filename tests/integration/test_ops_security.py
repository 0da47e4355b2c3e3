"""API tokens and R6.4 metrics: token matrix over the OpenAPI schema, no secrets in logs,
refusing a public bind, schemathesis fuzzing against a real orchestrator process, metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from airtrack.errors import ConfigError
from airtrack.logging import configure_logging
from airtrack.orchestrator.tokens import Tokens
from airtrack.settings import load_settings
from airtrack.startup.orchestrator import check_bind

from .ops_support import ops_orchestrator
from .orch_support import ADMIN, WORKER, SimWorker, fast_settings, settle
from .test_orchestrator_replicas import Replica

TOKENS = {"none": None, "worker": WORKER, "admin": ADMIN, "wrong": "not-a-token-" + "x" * 20}


def _fill(path: str) -> str:
    return path.replace("{worker_id}", "matrix-w").replace("{name}", "no-such-stream")


async def test_token_matrix_over_every_route(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    configure_logging("DEBUG", json=True)  # structlog → the captured stderr, everything
    caplog.set_level(logging.DEBUG)
    events: list[dict[str, Any]] = []
    try:
        with capture_logs() as events:
            await _token_matrix(db_url, tmp_path)
    finally:
        with capsys.disabled():  # bind the logger to the real stderr again
            configure_logging("INFO", json=True)
    logs = capsys.readouterr().err + caplog.text + repr(events)
    for secret in (ADMIN, WORKER, TOKENS["wrong"]):
        assert secret not in logs, "a token reached the logs"


async def _token_matrix(db_url: str, tmp_path: Path) -> None:
    async with ops_orchestrator(db_url, fast_settings(tmp_path)) as orch:
        schema = (await orch.http.get("/openapi.json")).json()
        ops = [
            (method.upper(), path, op.get("tags", [""])[0])
            for path, item in schema["paths"].items()
            for method, op in item.items()
        ]
        assert {"/api/v1/diagnostics", "/api/v1/health", "/api/v1/alerts"} <= {p for _, p, _ in ops}
        assert len(ops) >= 15
        checked = 0
        for method, path, tag in ops:
            for who, token in TOKENS.items():
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                r = await orch.http.request(
                    method, _fill(path), headers=headers, json={} if method == "POST" else None
                )
                code = r.status_code
                where = f"{who} {method} {path} → {code}"
                if tag == "probes":
                    assert code == 200, where
                elif who in ("none", "wrong"):
                    assert code == 401, where
                elif tag == "admin" and who == "worker":
                    assert code == 403, where
                else:
                    assert code not in (401, 403), where
                # 503 from /health is its answer (no leader ticks here), not a crash
                assert code < 500 or (path == "/api/v1/health" and code == 503), where
                checked += 1
        assert checked == len(ops) * len(TOKENS)
        # dashboard page: no data in it, so no token needed; the data needs one
        page = await orch.http.get("/dashboard")
        assert page.status_code == 200 and "dashboard.js" in page.text
        assert (await orch.http.get("/dashboard/../app.py")).status_code == 404


def test_refuses_public_bind_with_generated_tokens(tmp_path: Path) -> None:
    public = load_settings(home=tmp_path, host="0.0.0.0")
    generated = Tokens(secrets.token_urlsafe(32), secrets.token_urlsafe(32), True, None)
    given = Tokens(secrets.token_urlsafe(32), secrets.token_urlsafe(32), False, None)
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0"):
        check_bind(public, generated)
    check_bind(public, given)  # explicit strong tokens: allowed
    allowed = load_settings(home=tmp_path, host="0.0.0.0", allow_public_bind=True)
    check_bind(allowed, generated)
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(load_settings(home=tmp_path, host=host), generated)
        check_bind(load_settings(home=tmp_path, host=host), Tokens("a", "b", False, None))


def test_refuses_equal_or_weak_tokens(tmp_path: Path) -> None:
    """Equal tokens make every worker an admin (refused anywhere); weak ones only in public."""
    strong = secrets.token_urlsafe(32)
    loopback = load_settings(home=tmp_path)
    with pytest.raises(ConfigError, match="equal"):
        check_bind(loopback, Tokens("a", "a", False, None))
    allowed = load_settings(home=tmp_path, host="0.0.0.0", allow_public_bind=True)
    for adm, wrk in (("a", "b"), (strong, "b" * 40), (strong, "short")):
        with pytest.raises(ConfigError, match="refusing to listen"):
            check_bind(allowed, Tokens(adm, wrk, False, None))
    with pytest.raises(ConfigError, match="equal"):
        check_bind(allowed, Tokens(strong, strong, False, None))


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


async def test_metrics_parse_and_move_with_load(db_url: str, tmp_path: Path) -> None:
    settings_ = fast_settings(tmp_path, db_lock_timeout_s=0.2)
    async with ops_orchestrator(db_url, settings_) as orch:
        before = (await orch.http.get("/metrics")).text
        list(text_string_to_metric_families(before))  # parses
        hb_route = "/api/v1/workers/{worker_id}/heartbeat"
        await orch.add_streams(4)
        ws = [SimWorker(orch, f"m{i}", 4) for i in range(2)]
        for w in ws:
            await w.register()
        await settle(orch, ws)
        track = await orch.add_track()
        sid = sorted(ws[0].running)[0]
        r = await ws[0].play(sid, track=track)
        assert r.json()["results"][0]["status"] == "stored"
        r = await orch.worker_call(
            "POST",
            "/workers/m1/heartbeat",
            json={
                "streams": [
                    {"stream_id": s, "epoch": e, "status": "running", "lag_s": 1.5}
                    for s, e in ws[1].running.items()
                ],
                "metrics": {"outbox_pending": 7, "streams": 2},
            },
            headers=ws[1].auth,
        )
        assert r.status_code == 200
        # lock contention on the worker's row: the heartbeat retries (R2.3), counted
        with psycopg.connect(db_url) as conn:
            conn.execute("SELECT * FROM workers WHERE id = 'm0' FOR UPDATE")
            task = asyncio.create_task(ws[0].heartbeat())
            await asyncio.sleep(0.5)
            conn.rollback()
        assert (await task).status_code == 200
        await orch.ops.step()
        after = (await orch.http.get("/metrics")).text

    def moved(name: str, **labels: str) -> float:
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert moved("airtrack_http_request_seconds_count", route=hb_route, status="200") >= 6
    assert moved("airtrack_db_query_seconds_count", query="ownership_heartbeat") >= 6
    assert moved("airtrack_db_retries_total", query="ownership_heartbeat") >= 1
    assert moved("airtrack_heartbeats_total") >= 6
    assert moved("airtrack_assignment_moves_total") >= 4
    assert moved("airtrack_plays_total", status="stored") == 1
    assert moved("airtrack_recognition_latency_seconds_count") == 1
    assert moved("airtrack_stream_lag_seconds_count") >= 2
    assert _sample(after, "airtrack_worker_streams", worker="m0") == 2
    assert _sample(after, "airtrack_worker_reported", worker="m1", metric="outbox_pending") == 7
    assert _sample(after, "airtrack_outbox_depth") == 7
    assert "airtrack_breaker_open" in after and "airtrack_recovery_mode" in after


def test_schemathesis_fuzz_no_5xx_no_hang(replica: Replica) -> None:
    import schemathesis

    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=replica.url, headers=headers, timeout=10) as http:
        for i in range(3):
            http.post("/api/v1/streams", json={"name": f"f{i}", "url": f"http://127.0.0.1:9/{i}"})
        http.post("/api/v1/workers/register", json={"worker_id": "fz", "capacity": 2, "host": "x"})
        spec = http.get("/openapi.json").json()
    # Every webhook target stays on loopback: the generated URLs are loopback literals
    # (the orchestrator would refuse others anyway, but a name would be looked up in DNS).
    spec["components"]["schemas"]["WebhookCreate"]["properties"]["url"] = {
        "type": "string",
        "pattern": r"^http://127\.0\.0\.1:[1-9][0-9]{0,3}/[a-z]{0,8}$",
    }
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    calls = 0
    started = time.monotonic()
    fuzzed: set[str] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        fuzzed.add(operation.path)

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            nonlocal calls
            t0 = time.monotonic()
            response = case.call(base_url=replica.url, headers=headers, timeout=10)
            calls += 1
            took = time.monotonic() - t0
            unhealthy = case.formatted_path == "/api/v1/health" and response.status_code == 503
            if (response.status_code >= 500 and not unhealthy) or took > 8:
                failures.append(
                    f"{case.method} {case.formatted_path} → {response.status_code} in "
                    f"{took:.1f} s: {response.text[:200]}"
                )

        fuzz()
    # Input a JSON schema cannot describe, so the generator never sends it:
    # NaN/Infinity in numbers, NUL bytes in paths and queries, a reversed play.
    worker = {"Authorization": f"Bearer {WORKER}", "Content-Type": "application/json"}
    crafted: list[tuple[dict[str, str], str, str, bytes | None]] = [
        (worker, "POST", "/api/v1/workers/register", b'{"worker_id":"fz","capacity":NaN}'),
        (worker, "POST", "/api/v1/workers/register", b'{"worker_id":"fz","capacity":Infinity}'),
        (worker, "POST", "/api/v1/workers/fz/heartbeat", b'{"streams":[],"metrics":{"x":NaN}}'),
        (
            worker,
            "POST",
            "/api/v1/workers/fz/heartbeat",
            b'{"streams":[{"stream_id":1,"epoch":1,"lag_s":-Infinity}]}',
        ),
        (
            worker,
            "POST",
            "/api/v1/plays",
            b'{"worker_id":"fz","plays":[{"key":"kkkkkkkkkk","stream_id":1,"epoch":1,'
            b'"track_id":1,"started_at":"2026-01-01T00:00:00Z","confidence":NaN}]}',
        ),
        (
            worker,
            "POST",
            "/api/v1/plays",
            b'{"worker_id":"fz","plays":[{"key":"kkkkkkkkkk","stream_id":1,"epoch":1,'
            b'"track_id":1,"started_at":"2026-01-01T00:01:00Z",'
            b'"ended_at":"2026-01-01T00:00:00Z","confidence":0.5}]}',
        ),
        (headers, "DELETE", "/api/v1/streams/a%00b", None),
        (headers, "DELETE", "/api/v1/streams/by-id/1%00", None),
        (headers, "GET", "/api/v1/plays?stream=a%00b", None),
        (headers, "POST", "/api/v1/streams", b'{"name":"a\\u0000b","url":"http://127.0.0.1:9/n"}'),
        *[
            (headers, "POST", "/api/v1/webhooks", json.dumps({"url": url}).encode())
            for url in (
                "http://[::1",
                "http://127.0.0.1:99999/",
                "http://u:p@127.0.0.1:9/",
                "http://169.254.169.254/",
                "http://0.0.0.0:9/",
                "http://10.0.0.1/",
            )
        ],
        (headers, "POST", "/api/v1/webhooks/99999999999999999999/test", None),
        (headers, "DELETE", "/api/v1/webhooks/-1", None),
    ]
    with httpx.Client(base_url=replica.url, timeout=10) as http:
        for hdrs, method, path, body in crafted:
            r = http.request(method, path, content=body, headers=hdrs)
            calls += 1
            if not 400 <= r.status_code < 500:
                failures.append(f"{method} {path} {body!r} → {r.status_code}: {r.text[:200]}")
    # The event stream is not in the schema (it never ends): its inputs by hand, reading
    # only the status of each answer.
    events: list[tuple[dict[str, Any], dict[str, str], bool]] = [
        ({"Last-Event-ID": b"\xb2"}, {}, False),
        ({"Last-Event-ID": b"-1"}, {}, False),
        ({}, {"after": "\u0661\u0662"}, False),
        ({}, {"after": "1" * 41}, False),
        ({}, {"types": "nope"}, False),
        ({}, {"stream": "a\x00b"}, False),
        ({}, {"stream": "no-such-stream"}, False),
        ({"Last-Event-ID": b"99999999999999999999"}, {}, True),
        ({}, {"after": "9223372036854775807"}, True),
        ({}, {"after": "0", "types": "play.started,stream.down"}, True),
    ]
    with httpx.Client(base_url=replica.url, headers=headers, timeout=10) as http:
        for hdrs, params, ok in events:
            with http.stream("GET", "/api/v1/events", headers=hdrs, params=params) as r:
                calls += 1
                if (r.status_code == 200) != ok or r.status_code >= 500:
                    failures.append(f"GET /api/v1/events {hdrs} {params} → {r.status_code}")
    covered = {"/api/v1/webhooks", "/api/v1/webhooks/{endpoint_id}/test"}
    covered |= {"/api/v1/catalog/uploads", "/api/v1/catalog/uploads/{sha256}"}
    assert covered <= fuzzed, covered - fuzzed
    assert calls > 50
    assert not failures, "\n".join(failures[:10])
    assert time.monotonic() - started < 120
    assert httpx.get(f"{replica.url}/healthz", timeout=5).status_code == 200
    assert "Traceback" not in replica.log.read_text(), "no traceback in the orchestrator's log"
