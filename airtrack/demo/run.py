"""``airtrack demo``: the whole system on this machine, with a live view.

Embedded PostgreSQL, one orchestrator, three workers and four demo stations
(a built-in Icecast-style server playing generated songs, non-catalog songs
and talk with crossfades). The catalog is the generated demo songs, written
to ``AIRTRACK_HOME/demo-music`` once and added with ``airtrack catalog add``.
Ctrl-C stops every process the demo started.

The demo keeps its state in its own home (``~/.local/share/airtrack-demo`` unless
``--home`` or ``AIRTRACK_HOME`` says otherwise), apart from a real installation. A second
run reuses the ports of the first when they are free and points the streams at this run's
station server. Stopping does not depend on stdout: SIGINT, SIGTERM, SIGHUP and a closed
pipe stop the children by pid, and each child gets SIGTERM from the kernel
(PR_SET_PDEATHSIG) if the demo dies without stopping them (kill -9).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from airtrack.db import connect, ensure_server
from airtrack.logging import get_logger
from airtrack.orchestrator.streams import add_stream, list_streams, set_stream_url
from airtrack.orchestrator.tokens import load_or_create_tokens
from airtrack.protocol import StreamCreate
from airtrack.settings import Settings
from airtrack.web.login import dashboard_link

from .catalog import write_catalog
from .cluster import Cluster, die_with_parent, port_or_free
from .liveview import DemoState, LiveView, NoLive

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


STATE_FILE = "demo.json"
# What a shell reports for a process ended by that signal; a closed stdout counts as SIGPIPE.
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129, "stdout closed": 141}


class Stop:
    """Why the demo should stop, set from signal handlers and from a dead stdout."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __bool__(self) -> bool:
        return self.reason is not None

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason


def _mute_stdout() -> None:
    """Point fd 1 at /dev/null: later writes (and the interpreter's last flush) succeed."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class DemoConsole(Console):
    """A console whose closed stdout stops the demo instead of exiting on the spot.

    rich's default answer to a broken pipe is ``SystemExit(1)`` from inside ``print``;
    the demo must still stop its children, and say nothing more.
    """

    def __init__(self, stop: Stop) -> None:
        super().__init__(stderr=False)
        self.stop = stop

    def on_broken_pipe(self) -> None:
        self.quiet = True
        _mute_stdout()
        self.stop.set("stdout closed")


def _say(console: Console, text: str) -> None:
    """Print one line; a closed stdout (the reader of a pipe went away) stops the demo."""
    try:
        console.print(f"[bold cyan]airtrack demo[/] {text}", highlight=False, soft_wrap=True)
        console.file.flush()
    except OSError:  # EIO after a hang-up, BrokenPipeError on the flush: nobody is reading
        if isinstance(console, DemoConsole):
            console.on_broken_pipe()


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
        preexec_fn=die_with_parent,
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


async def _point_streams(settings: Settings, mounts: dict[str, str]) -> list[str]:
    """Add the demo stations as streams, or point existing ones at this run's URLs."""
    db = await connect(settings, min_size=0, max_size=1, app_name="airtrack-demo")
    try:
        have = {r["name"]: r["url"] for r in await list_streams(db)}
        moved = []
        for mount, url in mounts.items():
            if mount not in have:
                await add_stream(
                    db, StreamCreate.model_validate({"name": mount, "url": url}), settings
                )
            elif await set_stream_url(db, mount, url):
                moved.append(mount)
        return moved
    finally:
        await db.close()


def _write_state(home: Path, cluster: Cluster, info: dict[str, Any]) -> None:
    """``demo.json``: what this run started (pids, addresses), for people and tests."""
    children = {n: p.pid for n, p in cluster.procs.items() if p.alive()}
    state = {"pid": os.getpid(), "children": children, **info}
    tmp = home / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(home / STATE_FILE)


def run_demo(settings: Settings, opts: DemoOptions) -> int:
    stop = Stop()
    console = DemoConsole(stop)

    def on_signal(signum: int, frame: Any) -> None:
        stop.set(signal.Signals(signum).name)

    # Before anything starts: a hang-up or Ctrl-C during setup must still stop what did.
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    settings.home.mkdir(parents=True, exist_ok=True)
    _say(console, f"home {settings.home} (its own database, catalog, tokens and logs)")
    cluster = Cluster(
        settings.home,
        env={
            "AIRTRACK_HEARTBEAT_INTERVAL_S": "5",
            "AIRTRACK_LEASE_TTL_S": "15",
            "AIRTRACK_START_GRACE_S": "10",
        },
        die_with_parent=True,
    )
    try:
        _run(settings, opts, console, cluster, stop)
        return EXIT_CODES.get(stop.reason or "", 0)
    finally:
        # Children first, then (best effort) words: stopping must not depend on stdout.
        cluster.close()
        (settings.home / STATE_FILE).unlink(missing_ok=True)
        _say(console, f"stopped ({stop.reason or 'done'}): every process it started has exited")
        for s, h in old.items():
            signal.signal(s, h)


def _run(
    settings: Settings, opts: DemoOptions, console: Console, cluster: Cluster, stop: Stop
) -> None:
    db_url = ensure_server(settings.home)  # this process holds the embedded server open
    _say(console, f"embedded PostgreSQL ready ({db_url.split('?')[0]})")
    prepare_catalog(settings, opts, console)
    tokens = load_or_create_tokens(settings)
    state = DemoState()
    if stop:
        return
    state.started_at = datetime.now(UTC)
    stations = cluster.start_stations(
        stations=opts.stations,
        seed=opts.seed,
        catalog_size=CATALOG_SIZE,
        port=port_or_free(settings.demo_stations_port),
    )
    mounts: dict[str, str] = stations.info["mounts"]
    moved = asyncio.run(_point_streams(settings, mounts))
    if moved:
        _say(console, f"stations moved to {stations.info['base_url']}: streams updated")
    orch = cluster.start_orchestrator(port=port_or_free(settings.port))
    url = orch.info["url"]
    workers = [f"demo-worker-{i + 1}" for i in range(opts.workers)]
    for wid in workers:
        cluster.start_worker(wid, capacity=max(2, opts.stations))
    # The token rides in the fragment: browsers never send it, the page moves it to
    # sessionStorage and takes it out of the address bar and history at once.
    dashboard = dashboard_link(url, tokens.admin)
    where = {
        "orchestrator": url,
        "dashboard": f"{url}/dashboard",
        "stations": stations.info["base_url"],
        "started_at": state.started_at.isoformat(),
    }
    _write_state(settings.home, cluster, where)
    _say(console, f"dashboard: {dashboard}")
    _say(console, f"state: {settings.home} (AIRTRACK_HOME={settings.home} airtrack status)")
    _say(console, "Ctrl-C stops everything")
    view = LiveView(url, tokens.admin, stations.info, dashboard, state)
    next_chaos = time.monotonic() + opts.chaos_every_s
    victim: str | None = None
    restart_at = 0.0
    live_cm: Any = (
        Live(
            view.render(),
            console=console,
            refresh_per_second=2,
            transient=False,
            auto_refresh=False,
        )
        if opts.live
        else NoLive()
    )
    try:
        with live_cm as live:
            while not stop:
                if opts.duration_s and time.monotonic() - state.started > opts.duration_s:
                    break
                if opts.chaos and victim is None and time.monotonic() > next_chaos:
                    victim = random.choice(workers)
                    cluster.procs[victim].kill()
                    state.event(f"chaos: killed {victim} (SIGKILL)")
                    restart_at = time.monotonic() + 20
                if victim is not None and time.monotonic() > restart_at:
                    cluster.start_worker(victim, capacity=max(2, opts.stations))
                    state.event(f"chaos: restarted {victim}")
                    _write_state(settings.home, cluster, where)  # its new pid
                    victim = None
                    next_chaos = time.monotonic() + opts.chaos_every_s
                view.poll()
                live.update(view.render(), refresh=True)
                if not opts.live:
                    view.print_changes(console)
                    console.file.flush()
                time.sleep(1.0)
    except OSError:  # stdout went away (EIO after a hang-up): stop, quietly
        console.on_broken_pipe()
