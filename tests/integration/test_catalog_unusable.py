"""Prints that no index can read: refused at upload (422); one planted in the database
anyway is left out of snapshots and segments, the rest of the catalog still reaches the
manifest, and an alert names it. Against the orchestrator as ``serve`` wires it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from airtrack.api import create_app, wrap
from airtrack.api.state import AppState
from airtrack.catalog.manifest import SegmentStore
from airtrack.catalog.store import ENGINE
from airtrack.fingerprint import Index
from airtrack.ops.alerts import UNUSABLE_PRINTS, list_alerts
from airtrack.startup.orchestrator import build_state

from .orch_support import ADMIN, fast_settings, orchestrator
from .test_catalog_segments import _add, _prints


def _upload(prints: bytes, title: str = "Song", seed: int = 0) -> dict[str, Any]:
    return {
        "title": title,
        "artist": "Artist",
        "source": f"song{seed}.mp3",
        "duration_s": 20.0,
        "sha256": hashlib.sha256(f"content-{seed}".encode()).hexdigest(),
        "engine": ENGINE,
        "prints": base64.b64encode(prints).decode(),
    }


async def test_upload_refuses_prints_no_index_can_read(db_url: str, tmp_path: Path) -> None:
    """3 bytes of prints with the right engine were stored (200 added) and then stopped
    every catalog build; now they, and a header claiming a huge body, are a 422."""
    bomb = struct.pack("<4sHIf", b"ATFP", 2, 400_000_000, 20.0) + b"x\x9c\x03\x00"
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        bad = (b"abc", b"ATFP" + b"\x00" * 20, bomb, _prints(1)[:-3], _endless(_prints(1)))
        for prints in bad:
            r = await orch.admin("POST", "/catalog/uploads", json=_upload(prints))
            assert r.status_code == 422, r.text[:300]
            assert r.json()["detail"].startswith("prints: "), r.text[:300]
        good = _upload(_prints(1), title="=Song\x1b[2J\u202e", seed=1)
        r = await orch.admin("POST", "/catalog/uploads", json=good)
        assert r.status_code == 200 and r.json()["status"] == "added", r.text
        track = await orch.admin("GET", f"/catalog/tracks/{r.json()['track_id']}")
        assert track.json()["title"] == "=Song[2J"  # stored without control characters


def _endless(prints: bytes) -> bytes:
    """Readable prints whose header claims a billion seconds of audio: every index would
    size its per-second histogram by it (gigabytes, on every worker)."""
    magic, version, count, _ = struct.unpack_from("<4sHIf", prints)
    return struct.pack("<4sHIf", magic, version, count, 1e9) + prints[struct.calcsize("<4sHIf") :]


async def _plant_bad(db: Any, prints: bytes = b"abc") -> int:
    """A track whose prints bypassed the upload's check (3 bytes, by default)."""

    async def fn(tx: Any) -> int:
        rows = await tx.execute_raw(
            "INSERT INTO tracks (title, source, duration_s, content_sha256) "
            "VALUES ('bad', 'bad.mp3', 20, 'sha-bad') RETURNING id"
        )
        tid = int(rows[0]["id"])
        await tx.execute_raw(
            "INSERT INTO track_prints (track_id, engine, prints) VALUES (%s, %s, %s)",
            (tid, ENGINE, prints),
        )
        await tx.execute_raw("UPDATE catalog_state SET revision = revision + 1, changed_at = now()")
        return tid

    return int(await db.run("test_plant_bad", fn))


@asynccontextmanager
async def _served(db_url: str, home: Path) -> AsyncIterator[tuple[AppState, httpx.AsyncClient]]:
    """The state ``airtrack orchestrator`` builds (snapshot, segments, alerts wired)."""
    settings = fast_settings(
        # a delta of 1 track on a 2-track base stays a delta; a second passes the fraction
        home,
        database_url=db_url,
        catalog_compact_deltas=1,
        catalog_compact_fraction=0.8,
    )
    state, ops = await build_state(settings, with_control=False)
    transport = httpx.ASGITransport(app=wrap(create_app(state), settings))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://o") as http:
            yield state, http
    finally:
        await ops.close()
        await state.db.close()


@pytest.mark.parametrize("blob", ["3-bytes", "a-billion-seconds"])
async def test_a_bad_track_is_skipped_and_the_catalog_still_moves(
    db_url: str, tmp_path: Path, blob: str
) -> None:
    """A track with 3-byte prints stopped compaction (the manifest stayed old, tracks added
    later never reached workers) and the snapshot answered 500. Now it is left out of every
    build, the others are served, and an alert names it."""
    auth = {"Authorization": f"Bearer {ADMIN}"}
    async with _served(db_url, tmp_path) as (state, http):
        store = state.segments
        assert isinstance(store, SegmentStore)
        g1, _ = await _add(state.db, 1)
        g2, _ = await _add(state.db, 2)
        first = await store.manifest()
        assert first is not None
        bad = await _plant_bad(state.db, b"abc" if blob == "3-bytes" else _endless(_prints(9)))
        await store.manifest()  # a delta: the bad track is left out of it
        g3, _ = await _add(state.db, 3)
        await store.manifest()  # two deltas: compaction into a new base, in the background
        assert store.compaction is not None
        await asyncio.wait_for(store.compaction, timeout=60)
        served = await store.manifest()
        assert served is not None and served["version"] != first["version"]
        (base,) = [s for s in served["segments"] if s["kind"] == "index"]
        index = Index.load(store.folder / base["name"])
        assert sorted(index.track_ids.tolist()) == [g1, g2, g3]

        r = await http.get("/api/v1/catalog/manifest", headers=auth)
        assert r.status_code == 200 and r.json()["version"] == served["version"], r.text
        r = await http.get("/api/v1/catalog/snapshot", headers=auth)
        assert r.status_code == 200, r.text[:300]
        snap = tmp_path / "snap.idx"
        snap.write_bytes(r.content)
        assert sorted(Index.load(snap).track_ids.tolist()) == [g1, g2, g3]

        alerts = [a for a in await list_alerts(state.db) if a["kind"] == UNUSABLE_PRINTS]
        assert len(alerts) == 1 and f"#{bad}" in alerts[0]["message"], alerts
        assert alerts[0]["resolved_at"] is None
