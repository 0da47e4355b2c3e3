"""Plays and stream titles are one kind of write: fenced by the same step, and what the
fence refuses is kept for review (accept or discard), whatever the kind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from .orch_support import SimWorker, fast_settings, orchestrator, settle


def _title(sid: int, epoch: int, title: str) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(minutes=5)
    return {
        "key": uuid.uuid4().hex,
        "stream_id": sid,
        "epoch": epoch,
        "at": at.isoformat(),
        "title": title,
    }


def _audit(db_url: str, kind: str) -> list[Any]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT subject, detail FROM audit_log WHERE kind = %s ORDER BY id", (kind,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


async def test_a_stale_title_and_a_stale_play_are_treated_the_same(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1, prefix="radio")
        track = await orch.add_track("Heard Song")
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        epoch = w.running[sid]
        before = await orch.assignments()

        play = await w.play(sid, epoch=epoch - 1, track=track, key="stale-play")
        title = await orch.worker_call(
            "POST",
            "/metadata",
            json={"worker_id": w.id, "titles": [_title(sid, epoch - 1, "Band - Song")]},
            headers=w.auth,
        )
        for r in (play, title):
            assert r.status_code == 409, r.text
            assert [x["status"] for x in r.json()["results"]] == ["stale"]

        # one audit entry per stale batch, of one shape whatever the kind
        (p_audit,) = _audit(db_url, "play.stale")
        (t_audit,) = _audit(db_url, "title.stale")
        assert (
            p_audit
            == t_audit
            == (
                "w1",
                {"streams": {str(sid): 1}, "reasons": {"epoch_superseded": 1}},
            )
        )

        # both wait for review, as sent, with the same reason
        refused = (await orch.admin("GET", "/plays/refused")).json()
        assert sorted((r["kind"], r["reason"], r["worker_id"], r["epoch"]) for r in refused) == [
            ("play", "epoch_superseded", "w1", epoch - 1),
            ("title", "epoch_superseded", "w1", epoch - 1),
        ]
        by_kind = {r["kind"]: r for r in refused}
        diag = (await orch.admin("GET", "/diagnostics")).json()
        assert "2 refused plays or titles wait for review" in [
            f["problem"] for f in diag["findings"]
        ]
        assert by_kind["play"]["item"]["track_id"] == track
        assert by_kind["title"]["item"]["title"] == "Band - Song"
        assert by_kind["title"]["stream"] == "radio0"

        # accepted, both are logged as their worker sent them; ownership stays as it was
        ids = [by_kind["play"]["id"], by_kind["title"]["id"]]
        r = await orch.admin("POST", "/plays/refused/accept", json={"ids": ids})
        assert r.status_code == 200, r.text
        assert r.json() == {"outcomes": {str(i): "stored" for i in ids}}
        assert (await orch.admin("GET", "/plays/refused")).json() == []
        assert await orch.assignments() == before
        logged = (
            await orch.admin("GET", "/plays", params={"stream": "radio0", "source": "all"})
        ).json()
        assert sorted((p["title"], p["play_source"]) for p in logged) == [
            ("Heard Song", "fingerprint"),
            ("Song", "metadata"),
        ]
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT worker_id, epoch FROM plays WHERE idempotency_key = 'stale-play'"
            ).fetchone()
        assert row == ("w1", epoch - 1)
        assert len(_audit(db_url, "play.accepted")) == len(_audit(db_url, "title.accepted")) == 1

        # sent again (an outbox retry) it is kept once; discarded, it is gone but audited
        for _ in range(2):
            assert (
                await w.play(sid, epoch=epoch - 1, track=track, key="again-play")
            ).status_code == 409
        (again,) = (await orch.admin("GET", "/plays/refused")).json()
        assert again["times"] == 2
        r = await orch.admin("POST", "/plays/refused/discard", json={"ids": [again["id"]]})
        assert r.json() == {"discarded": [again["id"]]}
        assert (await orch.admin("GET", "/plays/refused")).json() == []
        (discarded,) = _audit(db_url, "play.discarded")
        assert discarded[1]["item"]["key"] == "again-play"
