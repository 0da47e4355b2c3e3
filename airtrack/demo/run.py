"""``airtrack demo``: the whole system on this machine, with a live view.

Embedded PostgreSQL, one orchestrator, three workers and four demo stations
(a built-in Icecast-style server playing generated songs, non-catalog songs
and talk with crossfades). The catalog is the generated demo songs, written
to ``AIRTRACK_HOME/demo-music`` once and added with ``airtrack catalog add``.
Ctrl-C stops every process the demo started.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from airtrack.db import ensure_server
from airtrack.logging import get_logger
from airtrack.orchestrator.tokens import load_or_create_tokens
from airtrack.settings import Settings

from .catalog import write_catalog
from .cluster import Cluster, free_port

log = get_logger("airtrack.demo")

CATALOG_SIZE = 12


@dataclass
class DemoOptions:
    workers: int = 3
    stations: int = 4
    music: Path | None = None
    chaos: bool = False
    chaos_every_s: float = 45.0
    duration_s: float | None = None
    live: bool = True
    seed: int = 1


@dataclass
class DemoState:
    started: float = field(default_factory=time.monotonic)
    events: list[str] = field(default_factory=list)
    first_play_s: float | None = None


def _say(console: Console, text: str) -> None:
    console.print(f"[bold cyan]airtrack demo[/] {text}", highlight=False)


def prepare_catalog(settings: Settings, opts: DemoOptions, console: Console) -> None:
    """Write the demo songs (once) and add them, or the user's folder, to the catalog."""
    if opts.music is not None:
        folder = opts.music
        if not folder.is_dir():
            raise SystemExit(f"airtrack demo: --music {folder} is not a folder")
    else:
        folder = settings.home / "demo-music"
        existing = sorted(folder.glob("*.mp3")) if folder.exists() else []
        if len(existing) < CATALOG_SIZE:
            _say(console, f"generating {CATALOG_SIZE} demo songs in {folder} …")
            t0 = time.monotonic()
            write_catalog(folder, CATALOG_SIZE, "mp3")
            _say(console, f"songs ready in {time.monotonic() - t0:.0f} s")
    _say(console, f"adding {folder} to the catalog …")
    proc = subprocess.run(
        [sys.executable, "-m", "airtrack", "catalog", "add", str(folder)],
        env=_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    summary = [ln for ln in proc.stdout.splitlines() if ln.strip()][-1:] or ["(no output)"]
    _say(console, f"catalog: {summary[0]}")
    if proc.returncode not in (0, 1):
        raise SystemExit(f"airtrack demo: catalog add failed:\n{proc.stdout[-2000:]}")


def _env(settings: Settings) -> dict[str, str]:
    import os

    return {**os.environ, "AIRTRACK_HOME": str(settings.home)}


def _port(settings: Settings) -> int:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", settings.port))
            return settings.port
        except OSError:
            return free_port()


def run_demo(settings: Settings, opts: DemoOptions) -> int:
    console = Console(stderr=False)
    settings.home.mkdir(parents=True, exist_ok=True)
    _say(console, f"home {settings.home}")
    db_url = ensure_server(settings.home)  # this process holds the embedded server open
    _say(console, f"embedded PostgreSQL ready ({db_url.split('?')[0]})")
    prepare_catalog(settings, opts, console)
    tokens = load_or_create_tokens(settings)
    state = DemoState()
    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    cluster = Cluster(
        settings.home,
        env={
            "AIRTRACK_HEARTBEAT_INTERVAL_S": "5",
            "AIRTRACK_LEASE_TTL_S": "15",
            "AIRTRACK_START_GRACE_S": "10",
        },
    )
    try:
        stations = cluster.start_stations(
            stations=opts.stations, seed=opts.seed, catalog_size=CATALOG_SIZE
        )
        mounts: dict[str, str] = stations.info["mounts"]
        orch = cluster.start_orchestrator(port=_port(settings))
        url = orch.info["url"]
        admin = {"Authorization": f"Bearer {tokens.admin}"}
        with httpx.Client(base_url=url, headers=admin, timeout=10) as http:
            have = {s["name"] for s in http.get("/api/v1/streams").json()}
            for mount, stream_url in mounts.items():
                if mount not in have:
                    http.post("/api/v1/streams", json={"name": mount, "url": stream_url})
        workers = [f"demo-worker-{i + 1}" for i in range(opts.workers)]
        for wid in workers:
            cluster.start_worker(wid, capacity=max(2, opts.stations))
        dashboard = f"{url}/?token={tokens.admin}"
        _say(console, f"dashboard: {dashboard}")
        _say(console, "Ctrl-C stops everything")
        view = LiveView(url, tokens.admin, stations.info, dashboard, state)
        next_chaos = time.monotonic() + opts.chaos_every_s
        victim: str | None = None
        restart_at = 0.0
        with (
            Live(
                view.render(),
                console=console,
                refresh_per_second=2,
                transient=False,
                auto_refresh=False,
            )
            if opts.live
            else _NoLive() as live
        ):
            while not stop["now"]:
                if opts.duration_s and time.monotonic() - state.started > opts.duration_s:
                    break
                if opts.chaos and victim is None and time.monotonic() > next_chaos:
                    victim = random.choice(workers)
                    cluster.procs[victim].kill()
                    state.events.append(f"{_now()} chaos: killed {victim} (SIGKILL)")
                    restart_at = time.monotonic() + 20
                if victim is not None and time.monotonic() > restart_at:
                    cluster.start_worker(victim, capacity=max(2, opts.stations))
                    state.events.append(f"{_now()} chaos: restarted {victim}")
                    victim = None
                    next_chaos = time.monotonic() + opts.chaos_every_s
                view.poll()
                live.update(view.render(), refresh=True)
                if not opts.live:
                    view.print_new_plays(console)
                time.sleep(1.0)
    finally:
        _say(console, "stopping …")
        cluster.close()
        for s, h in old.items():
            signal.signal(s, h)
        _say(console, "stopped: every process the demo started has exited")
    return 0


class _NoLive:
    def __enter__(self) -> _NoLive:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, *args: Any, **kw: Any) -> None:
        return None


def _now() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")


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

    def poll(self) -> None:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            self.plays = self.http.get("/api/v1/plays", params={"limit": 12}).json()
            self.workers = self.http.get("/api/v1/workers").json()
        if self.plays and self.state.first_play_s is None:
            self.state.first_play_s = time.monotonic() - self.state.started
            self.state.events.append(
                f"{_now()} first song recognised {self.state.first_play_s:.0f} s after start"
            )
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            status = httpx.get(f"{self.stations_url}/status-json.xsl", timeout=2).json()
            self.airing = {
                m["mount"]: _describe(m.get("now_playing")) for m in status["icestats"]["source"]
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
                p["started_at"][11:19],
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

    def print_new_plays(self, console: Console) -> None:
        for p in reversed(self.plays):
            key = (p["stream"], p["started_at"])
            if key not in self.printed:
                self.printed.add(key)
                console.print(
                    f"play: {p['started_at'][11:19]} {p['stream']}: "
                    f"{p.get('title')} — {p.get('artist')} ({p['confidence']:.2f})",
                    highlight=False,
                    markup=False,
                )


def _describe(now: dict[str, Any] | None) -> str:
    if not now:
        return "…"
    kind = str(now.get("kind") or "")
    if now.get("title"):
        return f"{now['title']} — {now.get('artist') or ''} ({kind})"
    return kind or "…"
