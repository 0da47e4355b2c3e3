"""The segment plan follows any sequence of catalog states exactly, within the bounds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.catalog.manifest import Plan, _target, live_ids, next_name, next_plan


@st.composite
def _histories(draw: st.DrawFn) -> list[set[int]]:
    """Catalog states: new ids only ever grow; any id may leave (and come back: re-print)."""
    states: list[set[int]] = []
    current: set[int] = set()
    next_id = 1
    for _ in range(draw(st.integers(1, 25))):
        for _ in range(draw(st.integers(0, 6))):
            current.add(next_id)
            next_id += 1
        if current:
            current -= set(draw(st.lists(st.sampled_from(sorted(current)), max_size=3)))
        if next_id > 1 and draw(st.booleans()):
            current.add(draw(st.integers(1, next_id - 1)))  # prints back for this engine
        states.append(set(current))
    return states


@settings(max_examples=200, deadline=None)
@given(_histories(), st.integers(1, 4), st.sampled_from([0.1, 0.5, 2.0]), st.integers(0, 3))
def test_the_plan_serves_exactly_the_catalog(
    states: list[set[int]], max_deltas: int, fraction: float, build: int
) -> None:
    """A next base is built ``build`` diffs after it was planned; until then the plan goes
    on serving the old base and its deltas, which may pass the fraction meanwhile."""
    plan: Plan = {"segments": [], "removed": []}
    waited = 0
    for now in states:
        waited = waited + 1 if "next" in plan else 0
        plan = next_plan(
            plan, now, max_deltas=max_deltas, fraction=fraction, next_built=waited >= build
        )
        assert live_ids(plan) == now
        segments = plan["segments"]
        held = {t for s in segments for t in s["ids"]}
        if not segments:
            assert not now and plan["removed"] == [] and "next" not in plan
            continue
        assert segments[0]["kind"] == "base"
        assert all(s["kind"] == "delta" and s["ids"] for s in segments[1:])
        assert len(segments) - 1 <= max_deltas
        assert set(plan["removed"]) <= held
        if "next" in plan:
            assert plan["next"]["kind"] == "base" and plan["next"]["ids"]
            continue
        base = max(1, len(segments[0]["ids"]))
        assert sum(len(s["ids"]) for s in segments[1:]) <= fraction * base
        assert len(plan["removed"]) <= fraction * base


def test_many_small_deltas_are_merged_not_compacted() -> None:
    """A bulk ingest diffs at every catalog watch: past ``max_deltas`` the deltas become
    one (cheap to pack), and the base, long to build, waits for the fraction."""
    plan: Plan = {"segments": [], "removed": []}
    now = set(range(1, 1001))
    plan = next_plan(plan, now, max_deltas=3, fraction=0.1)
    base = plan["segments"][0]
    for i in range(10):
        now |= {2000 + i}
        plan = next_plan(plan, now, max_deltas=3, fraction=0.1)
        assert plan["segments"][0] is base or plan["segments"][0] == base, "no new base"
        assert len(plan["segments"]) - 1 <= 3 and live_ids(plan) == now
    assert [s["kind"] for s in plan["segments"]][:1] == ["base"]
    assert {t for s in plan["segments"][1:] for t in s["ids"]} == set(range(2000, 2010))
    # past the fraction (10 % of the base's 1000 tracks): a new base is planned as the
    # next; the old base and its deltas serve the new tracks meanwhile
    now |= set(range(3000, 3100))
    plan = next_plan(plan, now, max_deltas=3, fraction=0.1)
    assert plan["segments"][0] == base and live_ids(plan) == now
    assert set(plan["next"]["ids"]) == now
    # tracks added during its build are served at once, and go on a delta on it
    now |= {4000, 4001}
    plan = next_plan(plan, now, max_deltas=3, fraction=0.1)
    assert plan["segments"][0] == base and live_ids(plan) == now and "next" in plan
    plan = next_plan(plan, now, max_deltas=3, fraction=0.1, next_built=True)
    assert [(s["kind"], len(s["ids"])) for s in plan["segments"]] == [("base", 1110), ("delta", 2)]
    assert live_ids(plan) == now and "next" not in plan


def _serve_files(states: list[set[int]], max_deltas: int, fraction: float, late: int) -> None:
    """What workers load: each segment file is built once per name, from the catalog as
    it is then (a replica may build it ``late`` states after the plan named it, leaving
    out tracks deleted meanwhile). Live tracks of the files, less the tombstones, must be
    the catalog's: a name never stands for two different segments."""
    plan: Plan = {"segments": [], "removed": [], "id": "p", "seq": 0}
    files: dict[str, set[int]] = {}
    named: list[tuple[int, str, set[int]]] = []  # (state index it was named at, name, ids)
    for i, now in enumerate(states):
        built = next_name(plan) in files  # the next base, swapped in once built
        new = next_plan(plan, now, max_deltas=max_deltas, fraction=fraction, next_built=built)
        if (new["segments"], new["removed"], new.get("next")) != (
            plan["segments"],
            plan["removed"],
            plan.get("next"),
        ):
            plan = {**new, "id": "p", "seq": int(plan["seq"]) + 1}
        manifest, ids = _target(plan)
        wanted = [(seg.name, set(ids[seg.name])) for seg in manifest.segments]
        if (nxt := next_name(plan)) is not None:
            wanted.append((nxt, set(plan["next"]["ids"])))
        for name, seg_ids in wanted:
            if name not in files and all(n != name for _, n, _ in named):
                named.append((i, name, seg_ids))
        for at, name, seg_ids in list(named):  # built ``late`` states after being named
            if i - at >= min(late, len(states) - 1 - at):
                files[name] = seg_ids & now
                named.remove((at, name, seg_ids))
        if all(seg.name in files for seg in manifest.segments):
            served = set().union(*(files[s.name] for s in manifest.segments))
            # a track deleted before a late build is left out of that file; come back, it
            # is in a newer segment: a live one is always in some file
            assert served - set(manifest.removed) == now, (i, plan)


@settings(max_examples=300, deadline=None)
@given(_histories(), st.integers(1, 3), st.sampled_from([0.5, 2.0, 50.0]), st.integers(0, 2))
def test_the_files_serve_exactly_the_catalog(
    states: list[set[int]], max_deltas: int, fraction: float, late: int
) -> None:
    _serve_files(states, max_deltas, fraction, late)


def test_a_merged_delta_is_not_taken_for_an_older_file_of_the_same_ids() -> None:
    """A track removed, then merged, then back: the merge of the same ids must not reuse
    the file built while it was gone."""
    base = set(range(1, 101))
    states = [base, base | {200}, base, base | {201}, base | {200, 201}]
    for late in (0, 1):
        _serve_files(states, max_deltas=1, fraction=50.0, late=late)


def test_a_long_ingest_packs_each_track_a_few_times_not_at_every_merge() -> None:
    """2000 diffs of one track each: merging all the deltas at every overflow would pack
    about n²/32 (125,000) tracks; size-tiered merging packs each a few times."""
    plan: Plan = {"segments": [], "removed": [], "id": "p", "seq": 0}
    now = set(range(1, 1001))
    packed, seen = 0, set()
    for i in range(2001):
        if i:
            now = now | {200_000 + i}
        new = next_plan(plan, now, max_deltas=16, fraction=10.0)
        plan = {**new, "id": "p", "seq": int(plan["seq"]) + 1}
        _, ids = _target(plan)
        for name, seg in ids.items():
            if name not in seen and name.startswith("delta-"):
                seen.add(name)
                packed += len(seg)
        assert len(plan["segments"]) - 1 <= 16 and live_ids(plan) == now
    assert plan["segments"][0]["kind"] == "base" and len(plan["segments"][0]["ids"]) == 1000
    assert packed <= 5 * 2000, packed


def test_a_track_that_left_and_came_back_during_a_base_build_is_served() -> None:
    """The next base is built from the catalog of its day: a track that left before the
    build is not in its file. Back before the swap, it must be in a delta on that base."""
    base = set(range(1, 11))
    states = [base, base | {11, 12}, (base | {11, 12}) - {5}, base | {11, 12}, base | {11, 12}]
    _serve_files(states, max_deltas=4, fraction=0.1, late=1)


def test_a_base_built_late_serves_what_was_added_meanwhile() -> None:
    """Deltas go on while the next base builds (a bulk ingest), and after the swap the
    tracks added meanwhile are one delta on the new base."""
    states = [set(range(1, 11))]
    for i in range(12):
        states.append(states[-1] | {100 + i})
    for late in (0, 1, 3, 6):
        _serve_files(states, max_deltas=3, fraction=0.1, late=late)
