"""What ``airtrack demo`` shows: a live screen on a terminal, plain lines through a pipe.

Both read the same things: what each station airs (the station server's ground truth),
the workers, and the plays logged *since this run started* (the database keeps earlier
runs' plays; counting them made a second run look recognised when nothing was).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from airtrack.localtime import show_time

# The station server renders songs while it starts; a loaded machine answers it slowly
# and an empty "on air" column for the first minutes is worse than a late one.
STATIONS_TIMEOUT_S = 10.0


@dataclass
class DemoState:
    started: float = field(default_factory=time.monotonic)
    started_at: datetime | None = None  # wall clock (UTC) of this run's start
    events: list[str] = field(default_factory=list)
    first_play_s: float | None = None

    def event(self, text: str) -> None:
        self.events.append(f"{show_time(datetime.now().astimezone(), date=False)} {text}")


class NoLive:
    """Stands in for :class:`rich.live.Live` when stdout is not a terminal."""

    def __enter__(self) -> NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: Any, **kw: Any) -> None:
        return None


class LiveView:
    """Polls the stations and the orchestrator; renders what is airing and what was logged."""

    def __init__(
        self, url: str, token: str, stations: dict[str, Any], dashboard: str, state: DemoState
    ) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        self.stations_url = str(stations.get("base_url") or "")
        self.mounts: dict[str, str] = stations.get("mounts", {})
        self.dashboard = dashboard
        self.state = state
        self.plays: list[dict[str, Any]] = []
        self.workers: list[dict[str, Any]] = []
        self.airing: dict[str, str] = {}
        self.printed: set[tuple[str, str]] = set()
        self.shown_airing: dict[str, str] = {}
        self.shown_workers: dict[str, str] = {}
        self.shown_events = 0

    def poll(self) -> None:
        params: dict[str, Any] = {"limit": 12}
        if self.state.started_at is not None:
            params["since"] = self.state.started_at.isoformat()
        with contextlib.suppress(httpx.HTTPError, ValueError):
            self.plays = self.http.get("/api/v1/plays", params=params).json()
            self.workers = self.http.get("/api/v1/workers").json()
        if self.plays and self.state.first_play_s is None:
            self.state.first_play_s = time.monotonic() - self.state.started
            self.state.event(f"first song recognised {self.state.first_play_s:.0f} s after start")
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            status = httpx.get(
                f"{self.stations_url}/status-json.xsl", timeout=STATIONS_TIMEOUT_S
            ).json()
            self.airing = {
                m["mount"]: describe(m.get("now_playing")) for m in status["icestats"]["source"]
            }

    def render(self) -> Group:
        st = Table("station", "on air now (ground truth)", title="stations", expand=True)
        for mount in self.mounts:
            st.add_row(mount, self.airing.get(mount, "…"))
        pt = Table(
            "started", "station", "song", "artist", "conf", title="plays logged", expand=True
        )
        for p in self.plays[:10]:
            pt.add_row(
                show_time(p["started_at"], date=False),
                p["stream"],
                p.get("title") or "?",
                p.get("artist") or "",
                f"{p['confidence']:.2f}",
            )
        wt = Table("worker", "state", "streams", "capacity", title="workers", expand=True)
        for w in self.workers:
            wt.add_row(w["id"], w["state"], str(w.get("streams", 0)), str(w["capacity"]))
        events = "\n".join(self.state.events[-4:]) or "waiting for the first song …"
        header = Panel(f"dashboard: {self.dashboard}\n{events}", title="airtrack demo")
        return Group(header, st, wt, pt)

    def print_changes(self, console: Console) -> None:
        """Through a pipe: one line per change (on air, worker state, event, play)."""
        lines: list[str] = []
        for event in self.state.events[self.shown_events :]:
            lines.append(f"event: {event}")
        self.shown_events = len(self.state.events)
        for mount in self.mounts:
            now = self.airing.get(mount)
            if now and self.shown_airing.get(mount) != now:
                self.shown_airing[mount] = now
                lines.append(f"on air: {mount}: {now}")
        for w in self.workers:
            desc = f"{w['state']}, {w.get('streams', 0)} streams"
            if self.shown_workers.get(w["id"]) != desc:
                self.shown_workers[w["id"]] = desc
                lines.append(f"worker: {w['id']}: {desc}")
        for p in reversed(self.plays):
            key = (p["stream"], p["started_at"])
            if key not in self.printed:
                self.printed.add(key)
                lines.append(
                    f"play: {show_time(p['started_at'], date=False)} {p['stream']}: "
                    f"{p.get('title')} — {p.get('artist')} ({p['confidence']:.2f})"
                )
        for line in lines:
            console.print(line, highlight=False, markup=False, soft_wrap=True)


def describe(now: dict[str, Any] | None) -> str:
    if not now:
        return "…"
    kind = str(now.get("kind") or "")
    if now.get("title"):
        return f"{now['title']} — {now.get('artist') or ''} ({kind})"
    return kind or "…"
