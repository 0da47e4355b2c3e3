"""Balancer: a pure function from (streams, live workers, current owners) to a target plan.

Rules (protocol rule 5 in docs/architecture.md, R1.1–R1.4):

* **Capacity** is never exceeded; a worker above its capacity (capacity lowered) sheds the
  excess (reason ``"capacity"``).
* **Balance** is water-filling under capacities: every worker that still has room after the plan
  is within 1 of every other worker (max − min ≤ 1 among workers with room, and no worker
  exceeds a worker with room by more than 1). R1.4 asks for ±2 of the mean; this is stronger.
* **Sticky and minimal**: streams stay where they are unless a move is needed; the number of
  moves is the minimum over all balanced targets (a join takes only what the newcomer needs,
  from the most loaded; nothing moves when already balanced).
* **Trigger**: voluntary moves happen whenever the water-filling bound is violated, which is
  stronger than R1.3's "> 20 % gap". ``threshold`` only feeds reporting: ``Plan.gap_ratio``
  and ``Plan.gap_exceeded`` (for logs, metrics and alerts).
* **Hysteresis**: ``pinned`` streams (still starting) never move voluntarily; they move only
  when their worker is gone or over capacity. A worker's pinned streams act as a floor on its
  target load, and the water level is computed above those floors.
* **Recovery mode** (``voluntary=False``): every kept stream is treated as pinned, so only
  orphans/unassigned streams are placed (onto the least loaded workers) and capacity excess is
  shed; nothing is moved for balance.
* **Deterministic**: inputs are sorted; ties break by stream id and worker id.

Conventions the caller relies on:

* ``Move.from_worker`` is the *live* current owner, or ``None`` when the stream was unassigned,
  new, or owned by a worker that is no longer live (an orphan: there is nobody to revoke from).
* A stream owned by a dead worker that cannot be placed anywhere yields
  ``Move(s, None, None, "no_room")`` so the caller clears the stale owner; a stream that was
  already unassigned and stays so yields no move (it is listed in ``Plan.unassigned``).
* Streams in ``current`` that are not in ``streams`` (deleted or disabled) are left out of
  ``Plan.target`` and listed in ``Plan.dropped``; they produce no ``Move`` (the caller revokes
  them as part of deleting the stream, not as part of balancing).
* Reasons: ``"orphan"`` (placing an unassigned/new/orphaned stream), ``"capacity"`` (shed by a
  worker above capacity), ``"join"`` (voluntary move to a worker that had no streams),
  ``"balance"`` (other voluntary moves), ``"no_room"`` (to ``None``: no worker has room).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

__all__ = [
    "REASON_BALANCE",
    "REASON_CAPACITY",
    "REASON_JOIN",
    "REASON_NO_ROOM",
    "REASON_ORPHAN",
    "Move",
    "Plan",
    "WorkerSlot",
    "balance",
]

REASON_ORPHAN = "orphan"
REASON_JOIN = "join"
REASON_BALANCE = "balance"
REASON_CAPACITY = "capacity"
REASON_NO_ROOM = "no_room"

# Kinds of streams waiting for a place, in the order they are served: streams that must move
# anyway (shed, voluntarily released, orphaned) are placed before streams that are merely
# unassigned, because leaving an unassigned stream unassigned costs no move.
_SHED, _RELEASED, _ORPHANED, _UNASSIGNED = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class WorkerSlot:
    """A live, assignable worker and the number of streams it may run (0 → none)."""

    id: str
    capacity: int


@dataclass(frozen=True, slots=True)
class Move:
    """One change of owner. ``from_worker``/``to_worker`` ``None``: unassigned (see module doc)."""

    stream_id: int
    from_worker: str | None
    to_worker: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """The balancer's answer. ``target`` covers every requested stream."""

    target: dict[int, str | None]
    moves: list[Move]
    loads: dict[str, int]
    gap_ratio: float
    unassigned: list[int]
    dropped: list[int] = field(default_factory=list)
    gap_exceeded: bool = False


def _capacities(workers: Iterable[WorkerSlot]) -> dict[str, int]:
    caps: dict[str, int] = {}
    for w in workers:
        if w.capacity < 0:
            raise ValueError(f"worker {w.id!r} has negative capacity {w.capacity}")
        prev = caps.get(w.id)
        if prev is not None and prev != w.capacity:
            raise ValueError(f"worker {w.id!r} given twice with capacities {prev}, {w.capacity}")
        caps[w.id] = w.capacity
    return {wid: caps[wid] for wid in sorted(caps)}


def _gap_ratio(counts: Mapping[str, int], caps: Mapping[str, int]) -> float:
    """(max − min) / max before the plan: max over workers with capacity, min over those with
    room (a worker full at a small capacity is not "underloaded")."""
    loads = [counts[w] for w, c in caps.items() if c > 0]
    with_room = [counts[w] for w, c in caps.items() if counts[w] < c]
    if not loads or not with_room:
        return 0.0
    top = max(loads)
    if top == 0:
        return 0.0
    return max(0, top - min(with_room)) / top


def _water_fill(
    floors: Mapping[str, int], caps: Mapping[str, int], kept: Mapping[str, int], total: int
) -> dict[str, int]:
    """Target loads: clamp(level, floor, cap) per worker, plus one for ``r`` of them.

    The level is the largest integer whose clamped sum does not exceed ``total``; the remaining
    ``r`` units go to the candidates that already hold more (each such choice saves a move),
    ties by worker id.
    """
    if not caps:
        return {}
    pairs = [(floors[w], caps[w]) for w in caps]

    def filled(level: int) -> int:
        return sum(f if level < f else (c if level > c else level) for f, c in pairs)

    lo, hi = 0, max(c for _, c in pairs)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if filled(mid) <= total:
            lo = mid
        else:
            hi = mid - 1
    level = lo
    target = {w: max(floors[w], min(caps[w], level)) for w in caps}
    extra = total - sum(target.values())
    if extra > 0:
        candidates = [w for w in caps if floors[w] <= level < caps[w]]
        candidates.sort(key=lambda w: (-kept[w], w))
        for w in candidates[:extra]:
            target[w] = level + 1
    return target


def balance(
    streams: Iterable[int],
    workers: Iterable[WorkerSlot],
    current: Mapping[int, str | None],
    *,
    pinned: AbstractSet[int] = frozenset(),
    voluntary: bool = True,
    threshold: float = 0.20,
) -> Plan:
    """Plan the owner of every stream; see the module docstring for the rules.

    ``workers`` are the live workers only; an owner in ``current`` that is not among them is
    treated as gone. Raises ``ValueError`` on a negative capacity or one worker id given twice
    with different capacities.
    """
    caps = _capacities(workers)
    wanted = sorted(set(streams))
    wanted_set = set(wanted)
    dropped = sorted(s for s in current if s not in wanted_set)

    kept: dict[str, list[int]] = {w: [] for w in caps}
    waiting: list[tuple[int, int, str | None]] = []  # (kind, stream, live owner)
    for s in wanted:
        owner = current.get(s)
        if owner is None:
            waiting.append((_UNASSIGNED, s, None))
        else:
            lst = kept.get(owner)
            if lst is None:
                waiting.append((_ORPHANED, s, None))
            else:
                lst.append(s)

    counts = {w: len(kept[w]) for w in caps}
    if not voluntary:
        floors = {w: min(caps[w], counts[w]) for w in caps}
    elif pinned:
        floors = {w: min(caps[w], sum(1 for s in kept[w] if s in pinned)) for w in caps}
    else:
        floors = dict.fromkeys(caps, 0)
    total = min(len(wanted), sum(caps.values()))
    target_loads = _water_fill(floors, caps, counts, total)

    # Release what each worker holds above its target: unpinned first, highest ids first.
    # The first (count − capacity) released are capacity sheds, the rest voluntary.
    for w, lst in kept.items():
        excess = counts[w] - target_loads[w]
        if excess <= 0:
            continue
        if pinned:
            order = [s for s in lst if s in pinned] + [s for s in lst if s not in pinned]
        else:
            order = lst
        over_cap = max(0, counts[w] - caps[w])
        released = order[len(order) - excess :]
        released.reverse()
        for i, s in enumerate(released):
            waiting.append((_SHED if i < over_cap else _RELEASED, s, w))
        keep = set(order[: len(order) - excess])
        kept[w] = [s for s in lst if s in keep]

    waiting.sort(key=lambda t: (t[0] == _UNASSIGNED, t[1]))
    target: dict[int, str | None] = {}
    for w, lst in kept.items():
        for s in lst:
            target[s] = w
    moves: list[Move] = []
    i = 0
    for w in caps:
        need = target_loads[w] - len(kept[w])
        for kind, s, owner in waiting[i : i + need]:
            target[s] = w
            if kind == _SHED:
                reason = REASON_CAPACITY
            elif kind == _RELEASED:
                reason = REASON_JOIN if counts[w] == 0 else REASON_BALANCE
            else:
                reason = REASON_ORPHAN
            moves.append(Move(s, owner, w, reason))
        i += max(0, need)
    unassigned: list[int] = []
    for kind, s, owner in waiting[i:]:
        target[s] = None
        unassigned.append(s)
        if kind != _UNASSIGNED:
            moves.append(Move(s, owner, None, REASON_NO_ROOM))

    moves.sort(key=lambda m: m.stream_id)
    unassigned.sort()
    gap = _gap_ratio(counts, caps)
    return Plan(
        target={s: target[s] for s in wanted},
        moves=moves,
        loads=target_loads,
        gap_ratio=gap,
        unassigned=unassigned,
        dropped=dropped,
        gap_exceeded=gap > threshold,
    )
