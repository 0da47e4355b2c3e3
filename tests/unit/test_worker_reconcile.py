"""Properties of the supervisor's pure core: desired vs running → actions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airtrack.protocol import Assignment
from airtrack.worker.reconcile import RunningInfo, agrees, apply, reconcile

ids = st.integers(min_value=1, max_value=30)
epochs = st.integers(min_value=0, max_value=5)
urls = st.sampled_from(["http://a/1", "http://a/2"])

assignments = st.lists(
    st.builds(
        lambda sid, ep, url: Assignment(stream_id=sid, name=f"s{sid}", url=url, epoch=ep),
        ids,
        epochs,
        urls,
    ),
    max_size=25,
)
running_sets = st.dictionaries(ids, st.tuples(epochs, urls), max_size=25).map(
    lambda d: {sid: RunningInfo(sid, ep, url) for sid, (ep, url) in d.items()}
)


def _want(desired: list[Assignment]) -> dict[int, RunningInfo]:
    out: dict[int, RunningInfo] = {}
    for a in desired:
        cur = out.get(a.stream_id)
        if cur is None or a.epoch > cur.epoch:
            out[a.stream_id] = RunningInfo(a.stream_id, a.epoch, a.url)
    return out


@given(assignments, running_sets)
def test_applying_the_actions_yields_exactly_the_desired_set(
    desired: list[Assignment], running: dict[int, RunningInfo]
) -> None:
    after = apply(reconcile(desired, running), running)
    assert after == _want(desired)
    assert agrees({sid: r.epoch for sid, r in after.items()}, desired)


@given(assignments, running_sets)
def test_actions_are_minimal(desired: list[Assignment], running: dict[int, RunningInfo]) -> None:
    actions = reconcile(desired, running)
    want = _want(desired)
    touched = [a.stream_id for a in actions]
    assert len(touched) == len(set(touched)), "one action per stream"
    for act in actions:
        if act.kind == "stop":
            assert act.stream_id in running and act.stream_id not in want
        elif act.kind == "start":
            assert act.stream_id not in running and act.stream_id in want
        else:
            assert running[act.stream_id] != want[act.stream_id]
    # streams already right are left alone (no restart of a healthy pipeline)
    for sid, info in running.items():
        if want.get(sid) == info:
            assert sid not in touched


@given(assignments, running_sets)
def test_stops_come_before_starts(
    desired: list[Assignment], running: dict[int, RunningInfo]
) -> None:
    kinds = [a.kind for a in reconcile(desired, running)]
    if "stop" in kinds and "start" in kinds:
        assert max(i for i, k in enumerate(kinds) if k == "stop") < kinds.index("start")


@given(assignments)
def test_reconcile_is_idempotent(desired: list[Assignment]) -> None:
    running = apply(reconcile(desired, {}), {})
    assert reconcile(desired, running) == []


def test_epoch_change_restarts_and_newest_epoch_wins() -> None:
    running = {1: RunningInfo(1, 3, "http://a/1")}
    desired = [
        Assignment(stream_id=1, name="x", url="http://a/1", epoch=4),
        Assignment(stream_id=1, name="x", url="http://a/1", epoch=2),
    ]
    (act,) = reconcile(desired, running)
    assert act.kind == "restart" and act.assignment is not None and act.assignment.epoch == 4
    assert not agrees({1: 3}, desired) and agrees({1: 4}, desired)
