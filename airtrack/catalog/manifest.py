"""The catalog served as segments: a base index, delta prints packs and removed track ids.

The *plan* lives in PostgreSQL (``catalog_manifest``, one row per engine): which track ids
each segment holds and which ids are removed. When the catalog revision moves, one replica
at a time (the row lock) diffs the ids the index should serve (``catalog_print_ids``)
against the plan: added tracks become one new *delta*, removed ones *tombstones*. Track
ids are never reused and a track's prints change only by moving to the current engine, so
the id diff is the whole change. The plan is labelled with the revision read *before* the
diff: if the catalog moved meanwhile, the next call diffs again. When the deltas pass
``catalog_compact_deltas`` segments, the newest are merged into one delta (size-tiered:
their tracks alone are packed again, each a few times over an ingest). When they pass
``catalog_compact_fraction`` of the base's tracks (added, or removed), the diff plans one
new base of the whole catalog as the plan's *next* (*compaction*): every replica builds it
in the background while the plan goes on serving the old base and its deltas, new tracks
included, and the replica that has built it swaps it in (the tracks added since it was
planned become one delta on it, those removed its tombstones). A base takes minutes to
build on a large catalog (2.5 min at 10,000 tracks): planned in place of the served
segments, it held every track added during the build back from the workers until it was
built, and the diffs of a bulk ingest, one every catalog watch, never wait for it.

Every replica *materializes* the plan into files under
``AIRTRACK_HOME/snapshots/segments/`` named from the plan alone (``delta-<sha of its ids
and plan change>.atp``), so all replicas serve the same names and the same manifest
version whichever of them a worker asks; the bytes may differ (a replica that builds a
segment later leaves out tracks deleted since, which the plan lists as removed anyway), so
each segment is checked against the serving replica's sha256 header. A delta is a prints
pack of its tracks (``fingerprint/segments.py``), built while the caller waits; a base is
a whole ``Index``, built in the background (only a replica that has served nothing yet
waits for it). A replica that sees the next base swapped in by another before it has
built it keeps serving its previous manifest until it has (its own build began when the
next base was planned: it lags by the difference of the build times). Files the served
manifest no longer names are deleted ``catalog_segment_grace_s`` later (a worker may be
downloading one). Because compaction bounds the deltas, a worker that was away for a week
downloads the base plus about that fraction (more while a next base builds during an
ingest, and in the delta of what came during the build): about a full snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from airtrack.catalog.snapshot import _state, _write, snapshot_dir
from airtrack.catalog.store import ENGINE
from airtrack.catalog.unusable import SkippedHook, Unusable
from airtrack.db import Database, Tx
from airtrack.errors import AirtrackError, AudioError, IndexFileError
from airtrack.fingerprint import PRINTS_VERSION, Index
from airtrack.fingerprint.segments import write_pack
from airtrack.logging import get_logger
from airtrack.settings import Settings

__all__ = ["Manifest", "Segment", "SegmentStore", "live_ids", "next_name", "next_plan"]

log = get_logger(__name__)

_BATCH = 128  # tracks per prints fetch while building a segment
_NAME = re.compile(r"^(base|delta)-[0-9a-f]{20}\.(idx|atp)$")
#: a build's temporary files (``_materialize``, ``snapshot._write``): left by a crash
_ABANDONED = re.compile(r"^\.+(base|delta)-[0-9a-f]{20}\.(idx|atp)\..*\.(build|tmp)$")

#: {"segments": [{"kind": "base"|"delta", "ids": [...], "gen"}], "removed": [...], "id",
#: "seq", "next": {"kind": "base", "ids": [...], "gen", "dropped": [...]} (optional)}:
#: ``gen`` the change that made a segment, ``next`` a base being built (``dropped``: its
#: ids that left the catalog since it was planned),
#: ``seq`` counts the plan's changes, ``id`` names the plan's row (a new database, a new id)
Plan = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    kind: str  # "index" (a saved Index: the base) or "pack" (a prints pack: a delta)
    tracks: int
    bytes: int = 0  # this replica's file


@dataclass(frozen=True, slots=True)
class Manifest:
    segments: tuple[Segment, ...]
    removed: tuple[int, ...]
    #: the plan's id and change count: a worker never goes back to a lower ``seq`` of the
    #: same plan (a replica still building a new base serves the previous manifest)
    plan_id: str = ""
    seq: int = 0

    @property
    def version(self) -> str:
        body = json.dumps([PRINTS_VERSION, [s.name for s in self.segments], self.removed])
        return "m" + hashlib.sha256(body.encode()).hexdigest()[:20]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "engine": PRINTS_VERSION,
            "segments": [asdict(s) for s in self.segments],
            "removed": list(self.removed),
            "plan": self.plan_id,
            "seq": self.seq,
        }


def _name(kind: str, ids: list[int], gen: int | None = None) -> str:
    """A segment's file name, from the plan alone: its kind, ids and the plan change that
    made it (``gen``; absent from plans written before it was kept). With ``gen`` a name
    is never reused: a file built from the catalog of its day (a replica that builds late
    leaves out tracks deleted since) is never taken for a later segment of the same ids,
    some of them live again."""
    key: list[Any] = [PRINTS_VERSION, kind, ids] + ([] if gen is None else [gen])
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()
    return f"{kind}-{digest[:20]}.{'idx' if kind == 'base' else 'atp'}"


def _target(plan: Plan) -> tuple[Manifest, dict[str, list[int]]]:
    """The manifest a plan names, and each segment's ids."""
    ids: dict[str, list[int]] = {}
    segments = []
    for s in plan["segments"]:
        gen = s.get("gen")
        name = _name(str(s["kind"]), list(s["ids"]), None if gen is None else int(gen))
        ids[name] = list(s["ids"])
        kind = "index" if s["kind"] == "base" else "pack"
        segments.append(Segment(name, kind, len(s["ids"])))
    removed = tuple(int(r) for r in plan["removed"])
    return Manifest(tuple(segments), removed, str(plan["id"]), int(plan["seq"])), ids


def _parts(plan: Plan) -> tuple[Any, Any, Any]:
    """What a plan change changes (not its id and count)."""
    return plan["segments"], plan["removed"], plan.get("next")


def live_ids(plan: Plan) -> set[int]:
    """The ids a plan serves: every segment's, less the removed."""
    held = {int(t) for s in plan["segments"] for t in s["ids"]}
    return held - {int(r) for r in plan["removed"]}


def needs_compaction(plan: Plan, *, fraction: float) -> bool:
    """Whether ``plan`` wants a new base: none yet, or its deltas or tombstones pass
    ``fraction`` of the base's tracks."""
    segments = plan["segments"]
    if not segments or segments[0]["kind"] != "base":
        return True
    base = max(1, len(segments[0]["ids"]))
    deltas = segments[1:]
    return (
        sum(len(s["ids"]) for s in deltas) > fraction * base
        or len(plan["removed"]) > fraction * base
    )


def next_name(plan: Plan) -> str | None:
    """The file name of the plan's next base (being built), if it has one."""
    nxt = plan.get("next")
    if nxt is None:
        return None
    gen = nxt.get("gen")
    return _name("base", list(nxt["ids"]), None if gen is None else int(gen))


def next_plan(
    plan: Plan, now: set[int], *, max_deltas: int, fraction: float, next_built: bool = False
) -> Plan:
    """The plan serving exactly ``now``: one more delta and tombstones, the deltas merged
    into one past ``max_deltas``; past ``fraction`` a new base planned as ``next`` (built
    while the old one serves), and swapped in for the old base and its deltas once this
    replica has built it (``next_built``; module doc)."""
    gen = int(plan.get("seq", 0)) + 1  # the change this plan will be (``_name``)
    if not now:
        return {"segments": [], "removed": []}  # emptied: nothing to build
    if not plan["segments"]:
        # nothing served yet: the first base is served once built
        return {"segments": [{"kind": "base", "ids": sorted(now), "gen": gen}], "removed": []}
    nxt = plan.get("next")
    if nxt is not None and next_built:
        # what the next base does not hold for sure goes into one delta on it: tracks
        # added since it was planned, and its own tracks that left the catalog since
        # (its build may have left them out) and came back; those gone are tombstones
        held = {int(t) for t in nxt["ids"]}
        sure = held - {int(t) for t in nxt.get("dropped", [])}
        added = sorted(now - sure)
        delta = [{"kind": "delta", "ids": added, "gen": gen}] if added else []
        swapped: Plan = {"segments": [{k: nxt[k] for k in ("kind", "ids", "gen") if k in nxt},
                                      *delta],
                         "removed": sorted(held - now)}  # fmt: skip
        if needs_compaction(swapped, fraction=fraction):
            swapped["next"] = {"kind": "base", "ids": sorted(now), "gen": gen}
        return swapped
    new = _diff(plan, now, gen, max_deltas=max_deltas)
    if nxt is not None:
        # still building: its tracks that leave the catalog meanwhile are remembered
        live = live_ids(plan)
        dropped = {int(t) for t in nxt.get("dropped", [])}
        dropped |= (live - now) & {int(t) for t in nxt["ids"]}
        new["next"] = {**nxt, "dropped": sorted(dropped)} if dropped else nxt
    elif needs_compaction(new, fraction=fraction):
        new["next"] = {"kind": "base", "ids": sorted(now), "gen": gen}
    return new


def _diff(plan: Plan, now: set[int], gen: int, *, max_deltas: int) -> Plan:
    """The served segments of ``plan`` following ``now``: one more delta and tombstones,
    the newest deltas merged into one past ``max_deltas``."""
    live = live_ids(plan)
    added = sorted(now - live)
    delta = [{"kind": "delta", "ids": added, "gen": gen}] if added else []
    segments = list(plan["segments"]) + delta
    removed = {int(r) for r in plan["removed"]} | (live - now)
    # an id removed earlier and served again (its prints back for this engine) is live in
    # the new delta: it leaves the tombstones (which would hide every copy of it)
    new: Plan = {"segments": segments, "removed": sorted(removed - set(added))}
    if len(segments) - 1 > max_deltas:
        # size-tiered, as log-structured stores merge: the newest deltas, at least two and
        # enough to get back within max_deltas, and more while the one before them is no
        # larger than what is merged; each track is packed again a few times, not at
        # every merge. The merge holds live ids only; the tombstones kept hide what the
        # base and the older deltas still hold.
        deltas = segments[1:]
        k = 2
        while k < len(deltas) and (
            len(deltas) - k + 1 > max_deltas
            or len(deltas[-k - 1]["ids"]) <= sum(len(d["ids"]) for d in deltas[-k:])
        ):
            k += 1
        kept = [segments[0], *deltas[:-k]]
        gone = set(new["removed"])
        merged = sorted({int(t) for d in deltas[-k:] for t in d["ids"]} - gone)
        held = {int(t) for seg in kept for t in seg["ids"]}
        tail = [{"kind": "delta", "ids": merged, "gen": gen}] if merged else []
        new = {"segments": kept + tail, "removed": sorted(gone & held)}
    return new


class SegmentStore:
    """Keeps the shared plan current and this replica's segment files materialized."""

    def __init__(
        self, db: Database, settings: Settings, *, on_skipped: SkippedHook | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        #: told of tracks whose prints cannot be read (left out of every segment)
        self.on_skipped = on_skipped
        self.folder = snapshot_dir(settings) / "segments"
        self._plan: tuple[int, datetime, Plan] | None = None
        self._named: tuple[Manifest, dict[str, list[int]]] = (Manifest((), ()), {})
        self._served: Manifest | None = None
        self._lock: asyncio.Lock | None = None
        self._unreferenced: dict[str, float] = {}
        self._next_cache: tuple[object, str | None] = (None, None)
        #: the background build of a base (compaction), while the previous manifest serves
        self.compaction: asyncio.Task[None] | None = None

    # -- serving ------------------------------------------------------------------------------
    async def manifest(self) -> dict[str, Any] | None:
        """The current manifest as served (None while the catalog has never had a track)."""
        m = await self.ensure()
        # a catalog emptied later is served empty: workers must drop what they match
        return m.to_json() if m.segments or m.seq > 0 else None

    def served(self) -> dict[str, Any] | None:
        """The manifest served now, without asking the database (the catalog watch keeps it
        current): manifest requests never wait for a diff or a build."""
        m = self._served
        return m.to_json() if m is not None and (m.segments or m.seq > 0) else None

    def segment_path(self, name: str) -> tuple[Path, str | None] | None:
        """A segment file by name (its sha256 is the route's to compute)."""
        if not _NAME.match(name):
            return None
        path = self.folder / name
        return (path, None) if path.is_file() else None

    # -- the plan ----------------------------------------------------------------------------
    async def ensure(self) -> Manifest:
        """The manifest this replica serves, after following the catalog if it moved, or
        swapping in the plan's next base once this replica has built it."""
        revision, changed_at = await _state(self.db)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if (
                self._plan is None
                or self._plan[:2] != (revision, changed_at)
                or self._next_built(self._plan[2])
            ):
                plan = await self.db.run(
                    "catalog_manifest_sync", lambda tx: self._sync(tx, revision, changed_at)
                )
                if self._plan is None or plan != self._plan[2]:
                    # naming hashes every id (a base's are the catalog's): once per plan
                    self._named = _target(plan)
                self._plan = (revision, changed_at, plan)
            target, ids = self._named
            served = self._served
            if served is None or served.version != target.version:
                missing = {n: i for n, i in ids.items() if not (self.folder / n).is_file()}
                # only a replica already serving a catalog builds a base in the background
                if not (served and served.segments) or not any(n[:5] == "base-" for n in missing):
                    await self._materialize(missing)
                    self._publish(target)
                elif self._slot_free():
                    self.compaction = asyncio.create_task(
                        self._build_then_publish(missing), name="catalog-compaction"
                    )
            self._start_next(self._plan[2])
            assert self._served is not None
            return self._served

    def _next_name(self, plan: Plan) -> str | None:
        """``next_name`` of a plan, computed once per plan change (it hashes every id of
        the catalog, and every catalog watch asks)."""
        key = (plan.get("id"), plan.get("seq"), id(plan.get("next")))
        if self._next_cache[0] != key:
            self._next_cache = (key, next_name(plan))
        return self._next_cache[1]

    def _next_built(self, plan: Plan) -> bool:
        """Whether this replica holds the file of the plan's next base."""
        name = self._next_name(plan)
        return name is not None and (self.folder / name).is_file()

    def _start_next(self, plan: Plan) -> None:
        """Build the plan's next base in the background, if this replica lacks it."""
        name = self._next_name(plan)
        if name is None or (self.folder / name).is_file():
            return
        if self._slot_free():
            ids = [int(t) for t in plan["next"]["ids"]]
            self.compaction = asyncio.create_task(
                self._build_then_swap(name, ids), name="catalog-compaction"
            )

    async def _sync(self, tx: Tx, revision: int, changed_at: datetime) -> Plan:
        """Diff the catalog into the shared plan (under its row lock) and return the plan."""
        await tx.execute("catalog_manifest_seed", {"engine": ENGINE})
        row = await tx.fetchone("catalog_manifest_lock", {"engine": ENGINE})
        assert row is not None
        plan: Plan = row["plan"]
        built = self._next_built(plan)
        if (int(row["revision"]), row["changed_at"]) == (revision, changed_at) and not built:
            return plan  # another replica diffed this revision already
        rows = await tx.fetch("catalog_print_ids", {"engine": ENGINE})
        now = {int(r["track_id"]) for r in rows}
        new = next_plan(
            plan,
            now,
            max_deltas=self.settings.catalog_compact_deltas,
            fraction=self.settings.catalog_compact_fraction,
            next_built=built,
        )
        if _parts(new) == _parts(plan):
            new = plan
        else:
            new = {**new, "id": plan["id"], "seq": int(plan["seq"]) + 1}
        await tx.execute(
            "catalog_manifest_put",
            {"engine": ENGINE, "revision": revision, "changed_at": changed_at, "plan": new},
        )
        if new is not plan:
            log.info(
                "catalog.plan.changed",
                revision=revision,
                seq=new["seq"],
                segments=len(new["segments"]),
                removed=len(new["removed"]),
                next_base=len(new["next"]["ids"]) if "next" in new else None,
            )
        return new

    # -- files -------------------------------------------------------------------------------
    async def _build_then_swap(self, name: str, ids: list[int]) -> None:
        """Build the plan's next base, then swap it in for the old base and its deltas (or,
        should that fail, the next catalog watch does)."""
        if not await self._build({name: ids}):
            return
        try:
            await self.ensure()
        except (AirtrackError, OSError, IndexFileError, AudioError) as exc:
            log.warning("catalog.swap_deferred", base=name, error=str(exc))

    async def _build_then_publish(self, missing: dict[str, list[int]]) -> None:
        if not await self._build(missing):
            return
        assert self._lock is not None
        async with self._lock:
            if self._plan is not None:
                target, ids = self._named
                if all((self.folder / n).is_file() for n in ids):
                    self._publish(target)
                self._start_next(self._plan[2])

    async def _build(self, missing: dict[str, list[int]]) -> bool:
        """A background build; False, logged, when it failed (the next watch tries again)."""
        try:
            await self._materialize(missing)
        except (AirtrackError, OSError, IndexFileError, AudioError) as exc:
            log.error("catalog.compaction_failed", error=str(exc))
            return False
        return True

    def _slot_free(self) -> bool:
        """Whether a background build may start: none runs, or the one asking has done
        building (a swap or a publish may make the next build due at once)."""
        task = self.compaction
        return task is None or task.done() or task is asyncio.current_task()

    async def _materialize(self, missing: dict[str, list[int]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        for name, ids in missing.items():
            t0 = time.perf_counter()
            tmp = self.folder / f".{name}.{os.getpid()}.build"
            items = self._prints_of(ids, loop)
            base = name.startswith("base-")
            bad = Unusable(name)
            if base:
                index = await asyncio.to_thread(Index.build, items, bad)
                await asyncio.to_thread(_write, index, tmp)
            else:  # workers unpack a delta: only prints that unpack go into it
                await asyncio.to_thread(write_pack, bad.checked(items), tmp)
            os.replace(tmp, self.folder / name)
            await bad.report(self.on_skipped, whole=base)
            log.info(
                "catalog.segment.built",
                name=name,
                tracks=len(ids),
                bytes=(self.folder / name).stat().st_size,
                seconds=round(time.perf_counter() - t0, 3),
            )

    def _prints_of(
        self, ids: list[int], loop: asyncio.AbstractEventLoop
    ) -> Iterator[tuple[int, bytes]]:
        """``(track_id, prints)`` of ``ids`` still in the catalog, batch by batch (a thread's)."""
        for i in range(0, len(ids), _BATCH):
            params = {"engine": ENGINE, "ids": ids[i : i + _BATCH]}
            rows = asyncio.run_coroutine_threadsafe(
                self.db.fetch("catalog_prints_of", params), loop
            )
            for row in rows.result():
                yield int(row["track_id"]), bytes(row["prints"])

    def _publish(self, target: Manifest) -> None:
        sized = tuple(
            Segment(s.name, s.kind, s.tracks, (self.folder / s.name).stat().st_size)
            for s in target.segments
        )
        m = Manifest(sized, target.removed, target.plan_id, target.seq)
        if self._served is None or self._served.version != m.version:
            log.info(
                "catalog.manifest.published",
                version=m.version,
                segments=len(m.segments),
                removed=len(m.removed),
                bytes=sum(s.bytes for s in m.segments),
            )
        self._served = m
        self._cleanup(m)

    def _cleanup(self, m: Manifest) -> None:
        """Delete files no served manifest has named for ``catalog_segment_grace_s``."""
        keep = {s.name for s in m.segments}
        keep |= set(self._named[1])  # a base being built for the plan
        if self._plan is not None and (nxt := self._next_name(self._plan[2])) is not None:
            keep.add(nxt)  # the next base, built or being built
        now = time.monotonic()
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if _ABANDONED.match(entry.name):
                _drop_if_older(entry, self.settings.snapshot_tmp_max_age_s)
                continue
            if not _NAME.match(entry.name) or entry.name in keep:
                self._unreferenced.pop(entry.name, None)
                continue
            since = self._unreferenced.setdefault(entry.name, now)
            if now - since >= self.settings.catalog_segment_grace_s:
                with contextlib.suppress(OSError):
                    entry.unlink()
                self._unreferenced.pop(entry.name, None)


def _drop_if_older(path: Path, seconds: float) -> None:
    """Delete ``path`` if it has not been written for ``seconds`` (an abandoned build)."""
    with contextlib.suppress(OSError):
        if time.time() - path.stat().st_mtime > seconds:
            path.unlink()
