"""The unknowns' admin routes over the real API and PostgreSQL: list, one, dismiss, and
the refusals (no such unknown, nothing left to label)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import psycopg

from .orch_support import fast_settings, orchestrator


def _unknown(db_url: str, streams: list[int], seconds: float) -> int:
    """An unknown with one airing per stream, as discovery stores it."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("INSERT INTO unknowns DEFAULT VALUES RETURNING id").fetchone()
        assert row is not None
        for k, sid in enumerate(streams):
            conn.execute(
                "INSERT INTO unknown_airings (unknown_id, stream_id, started_at, ended_at)"
                " VALUES (%s, %s, now() - make_interval(hours => %s),"
                " now() - make_interval(hours => %s) + make_interval(secs => %s))",
                (row[0], sid, k + 1, k + 1, seconds),
            )
    return int(row[0])


async def test_unknowns_are_listed_shown_dismissed_through_the_api(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        a, b = await orch.add_streams(2, prefix="radio")
        jingle = _unknown(db_url, [a, b, a], 7.0)
        once = _unknown(db_url, [b], 30.0)
        r = await orch.admin("GET", "/unknowns")
        assert r.status_code == 200, r.text
        assert [(u["id"], u["airings"], u["duration_s"]) for u in r.json()] == [(jingle, 3, 7.0)]
        assert r.json()[0]["stations"] == ["radio0", "radio1"]
        r = await orch.admin("GET", "/unknowns", params={"min_airings": 1})
        assert {u["id"] for u in r.json()} == {jingle, once}
        r = await orch.admin("GET", f"/unknowns/{jingle}")
        shown = r.json()
        assert len(shown["airings"]) == 3 and shown["status"] == "open"
        assert all(datetime.fromisoformat(x["start"]).tzinfo for x in shown["airings"])
        # nothing archived for it: it cannot be labelled (and stays listed)
        r = await orch.admin(
            "POST", f"/unknowns/{jingle}/label", json={"title": "ID", "artist": "Radio"}
        )
        assert r.status_code == 422 and "no longer in the fingerprint archive" in r.text
        r = await orch.admin("POST", f"/unknowns/{jingle}/dismiss")
        assert r.status_code == 200 and r.json()["status"] == "dismissed"
        assert (await orch.admin("GET", "/unknowns")).json() == []
        assert (await orch.admin("GET", "/unknowns/999999")).status_code == 404
        assert (await orch.admin("POST", "/unknowns/999999/dismiss")).status_code == 404
