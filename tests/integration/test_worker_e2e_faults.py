"""`airtrack worker` processes under faults, against the real orchestrator process:
SIGKILL mid-batch (outbox replay), injected state disagreement (reconcile, then
re-registration) and a real handoff that makes the worker's epoch stale."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from airtrack.demo.cluster import Cluster, Proc
from airtrack.testing.faultproxy import FaultProxyProcess
from tests.integration import test_worker_e2e_support as support
from tests.integration.test_worker_e2e_support import (
    Api,
    cluster_env,
    events,
    outbox_rows,
    until,
)
from tests.support.processes import new_cluster

# the first test of a run also renders and ingests the demo catalog (session fixtures)
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

# the shared fixtures
catalog_songs = support.catalog_songs
catalog_template = support.catalog_template
e2e_db = support.e2e_db
stations = support.stations


@pytest.fixture
def proxy_for() -> Iterator[Any]:
    started: list[FaultProxyProcess] = []

    def make(orch: Proc) -> FaultProxyProcess:
        p = FaultProxyProcess(upstream=("127.0.0.1", int(orch.info["port"])))
        p.start()
        started.append(p)
        return p

    yield make
    for p in started:
        p.stop()


def _stored_keys(db_url: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Every idempotency key the orchestrator holds (rows and merged keys), and the rows."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT idempotency_key, stream_id, track_id, started_at, ended_at FROM plays"
        ).fetchall()
        merged = [r[0] for r in conn.execute("SELECT idempotency_key FROM play_keys").fetchall()]
    return [r[0] for r in rows] + merged, [tuple(r) for r in rows]


def _logged_keys(cluster: Cluster, worker: str) -> set[str]:
    return {
        e["key"]
        for e in events(cluster, worker)
        if e["event"] in ("play_started", "play_ended") and "key" in e
    }


def test_sigkill_mid_batch_outbox_replayed_none_lost_none_duplicated(
    tmp_path: Path, e2e_db: str, stations: dict[str, Any], proxy_for: Any
) -> None:
    home = tmp_path / "home"
    # the lease outlasts the dark link (up to 90 s waiting for a play, then the restart):
    # the same worker must come back to the same streams at the same epochs
    env = cluster_env(e2e_db, AIRTRACK_LEASE_TTL_S="300", AIRTRACK_INACTIVE_AFTER_S="600")
    with new_cluster(home, env=env) as cluster:
        orch = cluster.start_orchestrator()
        api = Api(orch.info["url"])
        proxy = proxy_for(orch)
        via = f"http://127.0.0.1:{proxy.port}"
        sids = [api.add_stream(m, stations["mounts"][m]) for m in ("station1", "station2")]
        cluster.start_worker("e2e-k", capacity=4, orchestrator=via)
        until(lambda: all(api.owners()[s][0] == "e2e-k" for s in sids), 60, "streams assigned")

        def running() -> bool:
            ev = events(cluster, "e2e-k")
            ok = {e["stream_id"] for e in ev if e["event"] == "stream_status"}
            return ok >= set(sids)

        until(running, 60, "the worker runs both streams")
        epochs = {s: api.owners()[s][1] for s in sids}

        proxy.set_mode("blackhole")  # requests hang: the sender's batch stays in flight
        queued = until(lambda: outbox_rows(home, "e2e-k"), 90, "a play queued in the outbox")
        time.sleep(1.5)  # the sender has picked it up and is waiting on the dead link
        cluster.procs["e2e-k"].kill()  # SIGKILL mid-batch
        cluster.procs["e2e-k"].stop()  # reaped already; closes its log file (kill() does not)
        queued = outbox_rows(home, "e2e-k")
        assert queued, "the outbox must survive SIGKILL"
        before_kill = _logged_keys(cluster, "e2e-k")
        assert {q["key"] for q in queued} <= before_kill

        proxy.set_mode("pass")
        cluster.start_worker("e2e-k", capacity=4, orchestrator=via)  # same id: same streams
        until(lambda: not outbox_rows(home, "e2e-k"), 60, "the outbox replayed")
        assert {s: api.owners()[s][1] for s in sids} == epochs  # static membership kept them
        time.sleep(2.0)
        keys, rows = _stored_keys(e2e_db)
        assert len(keys) == len(set(keys))
        assert {q["key"] for q in queued} <= set(keys), "a queued play was lost"
        # One airing, one row: no two rows of one track overlap on one stream (rows with
        # no track are the stations' titles, metadata-only: one ends where the next begins)
        for i, a in enumerate(rows):
            for b in rows[i + 1 :]:
                if a[1] == b[1] and a[2] is not None and a[2] == b[2]:
                    a_end, b_end = a[4] or a[3], b[4] or b[3]
                    assert a_end < b[3] or b_end < a[3], f"duplicate airing {a} / {b}"
        # Everything the first incarnation logged before dying was delivered.
        assert before_kill <= set(keys)
        replay = [e for e in events(cluster, "e2e-k") if e["event"] == "worker_starting"]
        assert replay[-1]["outbox_pending"] == len(queued)


def test_state_disagreement_three_reconciles_then_reregistration(
    tmp_path: Path, e2e_db: str, stations: dict[str, Any]
) -> None:
    with new_cluster(tmp_path / "home", env=cluster_env(e2e_db)) as cluster:
        api = Api(cluster.start_orchestrator().info["url"])
        sid = api.add_stream("station1", stations["mounts"]["station1"])
        cluster.start_worker("e2e-r", capacity=2)
        until(lambda: api.owners()[sid][0] == "e2e-r", 60, "stream assigned")
        until(
            lambda: any(e["event"] == "stream_status" for e in events(cluster, "e2e-r")),
            20,
            "the stream runs",
        )

        def reregistered() -> bool:
            return any(
                e["event"] == "reconcile_failed_reregistering" for e in events(cluster, "e2e-r")
            )

        # An operator keeps changing the assignment under the worker (admin SQL): every
        # heartbeat reply disagrees with what the worker reported.
        with psycopg.connect(e2e_db, autocommit=True) as conn:
            end = time.monotonic() + 20
            while not reregistered() and time.monotonic() < end:
                conn.execute(
                    "UPDATE assignments SET epoch = epoch + 1 WHERE stream_id = %s", (sid,)
                )
                time.sleep(0.3)
        ev = events(cluster, "e2e-r")
        names = [e["event"] for e in ev]
        assert "reconcile_failed_reregistering" in names, names
        cut = names.index("reconcile_failed_reregistering")
        attempts = [e["attempt"] for e in ev[:cut] if e["event"] == "reconcile"]
        assert attempts[-3:] == [1, 2, 3], attempts
        assert ev[cut]["attempts"] == 3
        again = [e for e in ev[cut:] if e["event"] == "worker_registered"]
        assert again and again[0]["registrations"] == 2
        # Left alone, it agrees again and keeps running the stream at the current epoch.
        epoch = api.owners()[sid][1]

        def settled() -> bool:
            hb = [e for e in events(cluster, "e2e-r") if e["event"] == "stream_start"]
            return bool(hb) and hb[-1]["epoch"] == epoch and api.owners()[sid][0] == "e2e-r"

        until(settled, 60, "the worker runs the stream at the orchestrator's epoch")


def test_stale_epoch_after_a_real_handoff_drops_stream_and_its_queued_plays(
    tmp_path: Path, e2e_db: str, stations: dict[str, Any], proxy_for: Any
) -> None:
    home = tmp_path / "home"
    env = cluster_env(e2e_db, AIRTRACK_LEASE_TTL_S="4")
    with new_cluster(home, env=env) as cluster:
        orch = cluster.start_orchestrator()
        api = Api(orch.info["url"])
        proxy = proxy_for(orch)
        sid = api.add_stream("station2", stations["mounts"]["station2"])
        cluster.start_worker("e2e-a", capacity=2, orchestrator=f"http://127.0.0.1:{proxy.port}")
        until(lambda: api.owners()[sid][0] == "e2e-a", 60, "stream assigned to a")
        # the assignment reaches a in a heartbeat reply: cut a off only once it runs the
        # stream (on a fast machine b joined, and the proxy went dark, before that reply)
        until(
            lambda: any(
                e.get("event") == "stream_start" and e.get("stream_id") == sid
                for e in events(cluster, "e2e-a")
            ),
            60,
            "a captures the stream",
        )
        old_epoch = api.owners()[sid][1]
        cluster.start_worker("e2e-b", capacity=2)
        until(lambda: any(w["id"] == "e2e-b" for w in api.call("GET", "/workers")), 60, "b joins")

        proxy.set_mode("blackhole")  # a loses the orchestrator; its lease expires
        until(lambda: api.owners()[sid][0] == "e2e-b", 60, "handoff to b")
        assert api.owners()[sid][1] > old_epoch
        # what a stored while it owned the stream: an open play's start can be among it,
        # its end then queued under the old epoch (a play is stored open, then ended)
        held_keys, held_rows = _stored_keys(e2e_db)
        # a, in local mode, still logs the stream's songs under its old epoch
        # the station must air a catalog song long enough to be recognised (talk and
        # non-catalog songs come between): a generous deadline on a busy machine, not a rate
        stale = until(
            lambda: [q for q in outbox_rows(home, "e2e-a") if q["epoch"] == old_epoch],
            180,
            "a play queued under the old epoch",
        )
        proxy.set_mode("pass")

        def dropped() -> bool:
            ev = events(cluster, "e2e-a")
            gone = {e["item"]["key"] for e in ev if e["event"] == "play_refused_stale"}
            return {q["key"] for q in stale} <= gone

        until(dropped, 60, "a logs its stale plays, refused and kept for review")
        until(lambda: not outbox_rows(home, "e2e-a"), 60, "a's outbox empty")

        def stopped() -> bool:  # a no longer runs the stream (its log may trail the outbox)
            status = [
                e["status"]
                for e in events(cluster, "e2e-a")
                if e["event"] == "stream_status" and e["stream_id"] == sid
            ]
            return bool(status) and status[-1] == "stopped"

        until(stopped, 60, "a stops the stream")
        keys, rows = _stored_keys(e2e_db)
        stale_keys = {q["key"] for q in stale}
        # nothing queued under the old epoch was stored after the handoff; a play a opened
        # before it keeps the start a stored then (its refused end is kept for review)
        assert stale_keys & set(keys) <= set(held_keys)
        starts = {r[0]: r[3] for r in held_rows}
        assert all(starts[r[0]] == r[3] for r in rows if r[0] in stale_keys)
        with psycopg.connect(e2e_db, autocommit=True) as conn:
            kept = conn.execute(
                "SELECT idempotency_key FROM refused_plays WHERE kind = 'play'"
            ).fetchall()
        assert stale_keys <= {k for (k,) in kept}
        assert api.owners()[sid][0] == "e2e-b"
