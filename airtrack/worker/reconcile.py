"""Desired vs running streams: the pure core of the supervisor (docs/architecture.md, rule 2).

``reconcile(desired, running)`` returns the actions that turn ``running`` into
``desired``: start what was added, stop what was revoked, restart what changed
epoch (or URL). Applying them always yields exactly ``desired``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from airtrack.protocol import Assignment

ActionKind = Literal["start", "stop", "restart"]


@dataclass(frozen=True)
class RunningInfo:
    """What the worker runs for one stream."""

    stream_id: int
    epoch: int
    url: str
    backup_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    stream_id: int
    assignment: Assignment | None = None  # None only for "stop"


def reconcile(desired: Iterable[Assignment], running: Mapping[int, RunningInfo]) -> list[Action]:
    """Actions turning ``running`` into ``desired``; stops first, then restarts, then starts.

    Stops come first so a worker at capacity frees room before it takes more.
    If ``desired`` names a stream twice the highest epoch wins (an old owner
    record must never override a newer one).
    """
    want: dict[int, Assignment] = {}
    for a in desired:
        cur = want.get(a.stream_id)
        if cur is None or a.epoch > cur.epoch:
            want[a.stream_id] = a
    stops = [Action("stop", sid) for sid in sorted(running) if sid not in want]
    restarts: list[Action] = []
    starts: list[Action] = []
    for sid in sorted(want):
        a = want[sid]
        have = running.get(sid)
        if have is None:
            starts.append(Action("start", sid, a))
        elif (have.epoch, have.url, have.backup_urls) != (a.epoch, a.url, tuple(a.backup_urls)):
            restarts.append(Action("restart", sid, a))
    return [*stops, *restarts, *starts]


def apply(actions: Iterable[Action], running: Mapping[int, RunningInfo]) -> dict[int, RunningInfo]:
    """The running set after ``actions`` (what the supervisor's effects amount to)."""
    out = dict(running)
    for act in actions:
        if act.kind == "stop":
            out.pop(act.stream_id, None)
        else:
            assert act.assignment is not None
            a = act.assignment
            out[a.stream_id] = RunningInfo(a.stream_id, a.epoch, a.url, tuple(a.backup_urls))
    return out


def agrees(reported: Mapping[int, int], desired: Iterable[Assignment]) -> bool:
    """Whether the ``{stream_id: epoch}`` the worker reported is what the orchestrator wants."""
    want: dict[int, int] = {}
    for a in desired:
        want[a.stream_id] = max(a.epoch, want.get(a.stream_id, a.epoch))
    return dict(reported) == want
