"""The catalog as segments: deltas on add, tombstones on remove, compaction, checked downloads."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from airtrack.catalog.manifest import Manifest, SegmentStore
from airtrack.catalog.store import ENGINE
from airtrack.errors import SnapshotCorrupt
from airtrack.fingerprint import Index, fingerprint_samples, pack_prints
from airtrack.fingerprint.segments import SegmentedIndex, read_pack
from airtrack.worker.client import OrchestratorClient
from airtrack.worker.segment_sync import SegmentSync

from .orch_support import WORKER, fast_settings, orchestrator


def _prints(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(8000 * 20) / 8000
    x = sum(np.sin(2 * np.pi * f * t) * (t % 1 < 0.5) for f in rng.uniform(300, 3000, 12))
    return pack_prints(fingerprint_samples((x / 12).astype(np.float32)))


async def _add(db: Any, seed: int) -> tuple[int, bytes]:
    blob = _prints(seed)
    out: list[int] = []

    async def fn(tx: Any) -> None:
        rows = await tx.execute_raw(
            "INSERT INTO tracks (title, source, duration_s, content_sha256) "
            "VALUES ('t', 't.mp3', 20, %s) RETURNING id",
            (f"sha-{seed}",),
        )
        out.append(int(rows[0]["id"]))
        await tx.execute_raw(
            "INSERT INTO track_prints (track_id, engine, prints) VALUES (%s, %s, %s)",
            (out[0], ENGINE, blob),
        )
        await tx.execute_raw("UPDATE catalog_state SET revision = revision + 1, changed_at = now()")

    await db.run("test_add_track", fn)
    return out[0], blob


async def _remove(db: Any, track_id: int) -> None:
    async def fn(tx: Any) -> None:
        await tx.execute_raw("DELETE FROM tracks WHERE id = %s", (track_id,))
        await tx.execute_raw("UPDATE catalog_state SET revision = revision + 1, changed_at = now()")

    await db.run("test_remove_track", fn)


def _from_files(store: SegmentStore, m: Manifest) -> SegmentedIndex:
    segs = []
    for s in m.segments:
        path = store.folder / s.name
        if s.kind == "index":
            segs.append(Index.load(path))
        else:
            segs.append(Index.build(read_pack(path.read_bytes())))
    return SegmentedIndex(segs, m.removed)


def _same_lookups(a: Index, b: Index, query: np.ndarray) -> None:
    def norm(index: Index) -> list[tuple[int, int, int]]:
        q, tr, t = index.lookup(query, max_postings=32)
        ids = index.track_ids[tr.astype(np.int64)]
        return sorted(zip(q.tolist(), ids.tolist(), t.tolist(), strict=True))

    got, want = norm(a), norm(b)
    assert got == want and len(want) > 0


async def test_deltas_tombstones_and_compaction(db_url: str, tmp_path: Path) -> None:
    settings = fast_settings(
        tmp_path / "home",
        catalog_compact_deltas=1,
        catalog_compact_fraction=0.8,  # 2 tracks of deltas on a 3-track base: not yet; 3: yes
        catalog_segment_grace_s=0.0,
    )
    async with orchestrator(db_url, settings) as orch:
        store = SegmentStore(orch.db, settings)
        orch.state.segments = store
        # no catalog yet: a 404 that says segments are served (the worker waits, it does
        # not fall back to the full snapshot)
        await store.ensure()
        auth = {"Authorization": f"Bearer {WORKER}"}
        none = await orch.http.get("/api/v1/catalog/manifest", headers=auth)
        assert none.status_code == 404 and none.headers["X-Airtrack-Segments"] == "1"
        early = OrchestratorClient("http://orchestrator", WORKER, transport=orch.http._transport)
        assert await SegmentSync(early, tmp_path / "early", settings).refresh(None) is None
        await early.aclose()

        tracks = dict([await _add(orch.db, s) for s in (1, 2, 3)])
        m1 = await store.ensure()
        assert [s.kind for s in m1.segments] == ["index"] and m1.segments[0].tracks == 3

        added = dict([await _add(orch.db, s) for s in (4, 5)])
        tracks.update(added)
        m2 = await store.ensure()
        assert [s.kind for s in m2.segments] == ["index", "pack"] and m2.removed == ()
        delta = m2.segments[1]
        assert delta.tracks == 2
        assert delta.bytes <= 2 * sum(len(b) for b in added.values())
        assert m2.version != m1.version

        gone = sorted(tracks)[1]
        await _remove(orch.db, gone)
        m3 = await store.ensure()
        assert m3.segments == m2.segments and m3.removed == (gone,)
        live = {t: b for t, b in tracks.items() if t != gone}
        whole = Index.build(sorted(live.items()))
        query = np.arange(1 << 20, dtype=np.uint32)[::7]
        _same_lookups(_from_files(store, m3), whole, query)

        # the manifest and each segment over HTTP, as workers see them
        r = await orch.http.get("/api/v1/catalog/manifest", headers=auth)
        assert r.status_code == 200 and r.json()["version"] == m3.version
        assert r.json()["removed"] == [gone]
        again = {**auth, "If-None-Match": r.headers["ETag"]}
        assert (await orch.http.get("/api/v1/catalog/manifest", headers=again)).status_code == 304
        seg = await orch.http.get(f"/api/v1/catalog/segments/{delta.name}", headers=auth)
        assert seg.headers["X-Airtrack-Sha256"] == hashlib.sha256(seg.content).hexdigest()
        assert seg.content == (store.folder / delta.name).read_bytes()
        bad = await orch.http.get("/api/v1/catalog/segments/..%2Fmanifest.json", headers=auth)
        assert bad.status_code == 404

        # another replica (its own folder, the same database) adopts the plan: same names
        other = SegmentStore(orch.db, fast_settings(tmp_path / "other"))
        assert (await other.ensure()).version == m3.version

        # a second delta passes catalog_compact_fraction: a new base is planned as the
        # plan's next and built in the background; the old base and its (merged) deltas
        # serve the new track at once meanwhile
        tracks.update([await _add(orch.db, 6)])
        live = {t: b for t, b in tracks.items() if t != gone}
        m4 = await store.ensure()
        assert m4.version != m3.version and m4.segments[0] == m3.segments[0]
        assert [s.kind for s in m4.segments] == ["index", "pack"] and m4.removed == (gone,)
        _same_lookups(_from_files(store, m4), Index.build(sorted(live.items())), query)
        assert (await other.ensure()).version == m4.version  # and it builds the next too
        assert store.compaction is not None
        await store.compaction
        m5 = await store.ensure()
        assert [s.kind for s in m5.segments] == ["index"] and m5.removed == ()
        assert m5.segments[0].tracks == len(live)
        _same_lookups(_from_files(store, m5), Index.build(sorted(live.items())), query)
        # the other replica serves the swapped plan once its own build of that base is done
        assert other.compaction is not None
        await other.compaction
        assert (await other.ensure()).version == m5.version
        await store.ensure()  # a publish after the grace: files no manifest names are gone
        names = {p.name for p in store.folder.iterdir() if not p.name.startswith("manifest")}
        assert names == {m5.segments[0].name}

        # a worker following these manifests downloads each delta alone
        client = OrchestratorClient(
            "http://orchestrator", WORKER, transport=orch.http._transport, retries=2
        )
        sync = SegmentSync(client, tmp_path / "worker", settings)
        first = await sync.refresh(None)
        assert isinstance(first, tuple) and first[0] == m5.version
        newest, new_blob = await _add(orch.db, 7)
        await store.ensure()
        second = await sync.refresh(first[1])
        assert isinstance(second, tuple)
        assert 0 < sync.last_download_bytes <= 2 * len(new_blob)
        assert await sync.refresh(second[1]) is None  # unchanged: 304
        # a restarted worker matches against its last catalog, unless a file was damaged
        cached = SegmentSync(client, tmp_path / "worker", settings).load_cached()
        assert cached is not None and cached[0] == second[0]
        assert sorted(cached[2]().index.live_track_ids.tolist()) == sorted([*live, newest])
        delta_file = tmp_path / "worker" / _last_delta(sync)
        good = delta_file.read_bytes()
        delta_file.write_bytes(good[:-5])
        assert SegmentSync(client, tmp_path / "worker", settings).load_cached() is None
        delta_file.write_bytes(good)
        # a replica still building a new base serves the plan's previous manifest: the
        # worker does not go back to it (a new database's plan is another plan: it does)
        mine = (await orch.http.get("/api/v1/catalog/manifest", headers=auth)).json()
        assert mine["seq"] > m5.seq >= 1 and mine["plan"] == m5.plan_id
        assert sync._older({**mine, "seq": m5.seq})
        assert not sync._older({**mine, "seq": m5.seq, "plan": "another"})

        # every track removed: the worker's catalog empties (it does not keep matching them)
        for t in [*live, newest]:
            await _remove(orch.db, t)
        await store.ensure()
        third = await sync.refresh(second[1])
        assert isinstance(third, tuple)
        index = third[2]().index
        assert isinstance(index, SegmentedIndex) and index.live_track_ids.size == 0
        await client.aclose()


def _last_delta(sync: SegmentSync) -> str:
    """The name of the last delta in a worker's cached manifest."""
    body = json.loads((sync.folder / "manifest.json").read_text())
    return str(body["segments"][-1]["name"])


class _Flaky(BaseHTTPRequestHandler):
    """Serves one segment with its sha256; the next ``corrupt`` bodies are cut short or have
    a flipped byte (after the checksum header was computed, as damage on the way would)."""

    body = b""
    corrupt = 0
    served = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        cls = type(self)
        cls.served += 1
        data = cls.body
        if cls.corrupt > 0:
            cls.corrupt -= 1
            data = data[: len(data) // 2] if cls.served % 2 else bytes([data[0] ^ 1]) + data[1:]
        self.send_response(200)
        self.send_header("X-Airtrack-Sha256", hashlib.sha256(cls.body).hexdigest())
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


async def test_builds_abandoned_by_a_crash_are_deleted_fresh_ones_kept(
    db_url: str, tmp_path: Path
) -> None:
    """A base's build writes temporary files of a few GB; a crash leaves them behind."""
    settings = fast_settings(tmp_path / "home", snapshot_tmp_max_age_s=600.0)
    async with orchestrator(db_url, settings) as orch:
        store = SegmentStore(orch.db, settings)
        await _add(orch.db, 1)
        store.folder.mkdir(parents=True, exist_ok=True)
        stem = ".base-0123456789abcdef0123.idx"
        old = [store.folder / f"{stem}.4242.build", store.folder / f".{stem}.4242.build.9.a.tmp"]
        fresh = store.folder / f"{stem}.4343.build"
        for path in [*old, fresh]:
            path.write_bytes(b"x")
        for path in old:
            os.utime(path, (time.time() - 3600, time.time() - 3600))
        await store.ensure()  # publishes the first manifest, and cleans up
        assert [p.exists() for p in [*old, fresh]] == [False, False, True]


async def test_a_damaged_segment_download_is_retried_never_loaded(tmp_path: Path) -> None:
    _Flaky.body = bytes(range(256)) * 4000
    sha = hashlib.sha256(_Flaky.body).hexdigest()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        client = OrchestratorClient(url, "t", retries=3, retry_base_s=0.01)
        _Flaky.corrupt = 2
        assert await client.download_segment("delta-x.atp") == (_Flaky.body, sha)
        assert _Flaky.served == 3
        _Flaky.corrupt = 3
        with pytest.raises(SnapshotCorrupt):
            await client.download_segment("delta-x.atp")
        await client.aclose()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
