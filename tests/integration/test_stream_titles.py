"""POST /api/v1/metadata: stream titles are fenced by epoch like plays, a song-naming
title is a play of source 'metadata', and listings keep those apart unless asked."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from .orch_support import SimWorker, fast_settings, orchestrator, settle
from .test_plays_listing import _cli

#: titles an hour ago: the fingerprint play (now) comes after every one of them
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


async def _titles(
    w: SimWorker, sid: int, epoch: int, items: list[tuple[float, str | None]]
) -> httpx.Response:
    body: dict[str, Any] = {
        "worker_id": w.id,
        "titles": [
            {
                "key": uuid.uuid4().hex,
                "stream_id": sid,
                "epoch": epoch,
                "at": (T0 + timedelta(seconds=s)).isoformat(),
                "title": title,
                "encoding": "cp1252" if title and "ö" in title else "utf-8",
            }
            for s, title in items
        ],
    }
    return await w.orch.worker_call("POST", "/metadata", json=body, headers=w.auth)


async def test_titles_are_fenced_and_songs_become_metadata_plays(
    db_url: str, tmp_path: Path
) -> None:
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        (sid,) = await orch.add_streams(1, prefix="radio")
        track = await orch.add_track("Heard Song")
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        epoch = w.running[sid]

        r = await _titles(
            w,
            sid,
            epoch,
            [
                (0, "Motörhead - Ace of Spades"),
                (180, "Motörhead - Ace of Spades"),  # a reconnect re-reports it
                (200, "Radio Demo FM"),
                (400, "Unknown Band - Wish"),
            ],
        )
        assert r.status_code == 200, r.text
        assert [x["status"] for x in r.json()["results"]] == ["stored"] * 4
        # a fingerprint play on the same stream does not end the station's open title
        assert (await w.play(sid, track=track)).status_code == 200

        stale = await _titles(w, sid, epoch - 1, [(800, "Old - Owner")])
        assert stale.status_code == 409
        assert stale.json()["results"][0]["status"] == "stale"

        heard = (await orch.admin("GET", "/plays", params={"stream": "radio0"})).json()
        assert [(p["title"], p["play_source"]) for p in heard] == [("Heard Song", "fingerprint")]
        every = await orch.admin("GET", "/plays", params={"stream": "radio0", "source": "all"})
        meta = sorted(
            (p["artist"], p["title"], p["started_at"], p["ended_at"])
            for p in every.json()
            if p["play_source"] == "metadata"
        )
        iso = [
            (T0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z") for s in (0, 200, 400)
        ]
        got = [
            (a, t, s.replace("+00:00", "Z"), e and e.replace("+00:00", "Z")) for a, t, s, e in meta
        ]
        assert got == [
            ("Motörhead", "Ace of Spades", iso[0], iso[1]),
            ("Unknown Band", "Wish", iso[2], None),
        ]

    home = tmp_path / "home"
    heard = await asyncio.to_thread(_cli, db_url, home, "plays", "--stream", "radio0", "--json")
    assert heard.returncode == 0, heard.stderr
    assert [p["title"] for p in json.loads(heard.stdout)] == ["Heard Song"]
    every = await asyncio.to_thread(
        _cli, db_url, home, "plays", "--stream", "radio0", "--json", "--with-metadata"
    )
    assert every.returncode == 0, every.stderr
    assert sorted(p["title"] for p in json.loads(every.stdout)) == [
        "Ace of Spades",
        "Heard Song",
        "Wish",
    ]
