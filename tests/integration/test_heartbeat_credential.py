"""The heartbeat checks the worker's credential in its own round trip (one query, as
before credentials), with the same refusals: a real orchestrator process on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from airtrack.protocol import CREDENTIAL_HEADER, WRONG_CREDENTIAL

from .orch_support import WORKER
from .test_orchestrator_replicas import Replica


@pytest.fixture
def rep(db_url: str, tmp_path: Path) -> Iterator[Replica]:
    r = Replica(
        db_url,
        tmp_path / "home",
        tmp_path / "orchestrator.log",
        {"AIRTRACK_WORKER_CAPACITY_MAX": "5"},
    )
    try:
        r.wait_ready()
        yield r
    finally:
        r.stop()


def _queries(rep: Replica) -> dict[str, float]:
    """How many times each named query ran (the orchestrator's own metric)."""
    text = httpx.get(f"{rep.url}/metrics", timeout=15).text
    return {
        s.labels["query"]: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "airtrack_db_query_seconds_count"
    }


def _last_beat(db_url: str, wid: str) -> object:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT last_heartbeat FROM workers WHERE id = %s", (wid,)).fetchone()
    assert row is not None
    return row[0]


def test_a_heartbeat_is_one_query_and_refuses_a_wrong_credential(rep: Replica, db_url: str) -> None:
    mine = "c" * 8 + uuid.uuid4().hex * 2
    url = f"{rep.url}/api/v1"
    auth = {"Authorization": f"Bearer {WORKER}"}
    with httpx.Client(base_url=url, headers={**auth, CREDENTIAL_HEADER: mine}) as worker:
        r = worker.post("/workers/register", json={"worker_id": "w1", "capacity": 1})
        assert r.status_code == 200, r.text
        before = _queries(rep)
        for _ in range(5):
            assert worker.post("/workers/w1/heartbeat", json={"streams": []}).status_code == 200
        after = _queries(rep)
    assert after.get("ownership_heartbeat", 0) - before.get("ownership_heartbeat", 0) == 5
    assert after.get("worker_credential_get", 0) == before.get("worker_credential_get", 0)

    beat = _last_beat(db_url, "w1")
    many = {"streams": [{"stream_id": i, "epoch": 1} for i in range(1, 8)]}
    for headers in ({CREDENTIAL_HEADER: "t" * 40}, {}):
        with httpx.Client(base_url=url, headers={**auth, **headers}) as other:
            r = other.post("/workers/w1/heartbeat", json={"streams": []})
            assert r.status_code == WRONG_CREDENTIAL, r.text
            assert "does not speak for 'w1'" in r.json()["detail"]
            # over the stream limit too: the credential is still what is refused
            r = other.post("/workers/w1/heartbeat", json=many)
            assert r.status_code == WRONG_CREDENTIAL, r.text
    assert _last_beat(db_url, "w1") == beat, "a refused heartbeat changes nothing"

    # an id that never claimed a credential stays open; an unknown one registers again
    with httpx.Client(base_url=url, headers=auth) as plain:
        assert plain.post("/workers/register", json={"worker_id": "w2", "capacity": 1}).is_success
        assert plain.post("/workers/w2/heartbeat", json={"streams": []}).status_code == 200
        assert plain.post("/workers/w3/heartbeat", json={"streams": []}).status_code == 404
