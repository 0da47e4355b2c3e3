"""Run a whole airtrack system on this machine: orchestrator(s), workers, demo stations.

Used by ``airtrack demo`` and by the end-to-end tests. Every process is a real
subprocess (``python -m airtrack ...``) with its output in ``<home>/logs``;
the cluster remembers every pid it started and stops them all — by pid — on
``close()``, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from airtrack.logging import get_logger
from airtrack.processes import die_with_parent

log = get_logger("airtrack.demo.cluster")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_or_free(port: int, host: str = "127.0.0.1") -> int:
    """``port`` when it can be listened on now, else 0: the server then binds port 0 and
    reports the port the kernel gave it (picking a "free" port here and binding it later
    would race with anyone else doing the same).

    SO_REUSEADDR as the servers set it: a port left in TIME_WAIT by the previous run is
    free for them, and the bookmarked address keeps working.
    """
    if port:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
                return port
            except OSError:
                pass
    return 0


@dataclass
class Proc:
    """One process of the cluster."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    die_with_parent: bool = False
    death_signal: signal.Signals = signal.SIGTERM
    log_offset: int = 0  # where this run's output starts in the (appended) log

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.log_offset = self.log_file.tell()
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=(
                functools.partial(die_with_parent, self.death_signal)
                if self.die_with_parent
                else None
            ),
        )
        log.info("cluster.started", name=self.name, pid=self.popen.pid)
        return self

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait, then SIGKILL; returns the exit code."""
        if self.popen is None:
            return None
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)  # a stopped process cannot exit
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        return self.popen.returncode

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()  # type: ignore[union-attr]
            self.popen.wait(timeout=10)  # type: ignore[union-attr]
        if self.log_file is not None:  # a restart opens a new one; do not leak this
            self.log_file.close()
            self.log_file = None


class Cluster:
    """A local airtrack system under one AIRTRACK_HOME."""

    def __init__(
        self,
        home: Path,
        *,
        env: dict[str, str] | None = None,
        die_with_parent: bool = False,
        death_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        """``die_with_parent``: children get ``death_signal`` when this process dies, even
        by SIGKILL (the death signal follows the starting *thread*: start them from the
        main thread). Tests use SIGKILL: a child they froze with SIGSTOP ignores SIGTERM."""
        self.home = home
        self.die_with_parent = die_with_parent
        self.death_signal = death_signal
        self.logs = home / "logs"
        self.procs: dict[str, Proc] = {}
        self.env = {
            **os.environ,
            "AIRTRACK_HOME": str(home),
            "AIRTRACK_LOG_JSON": "true",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.orchestrator_url: str | None = None

    def _proc(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        if name in self.procs and self.procs[name].alive():
            raise RuntimeError(f"{name} is already running")
        proc = Proc(
            name,
            [sys.executable, *args],
            {**self.env, **(env or {})},
            self.logs / f"{name}.log",
            die_with_parent=self.die_with_parent,
            death_signal=self.death_signal,
        )
        self.procs[name] = proc
        return proc.start()

    # -- the parts ----------------------------------------------------------------

    def start_stations(
        self,
        *,
        stations: int = 4,
        seed: int = 1,
        speed: float = 1.0,
        catalog_size: int = 12,
        extra: list[str] | None = None,
        name: str = "stations",
        timeout: float = 120.0,
        port: int | None = None,
    ) -> Proc:
        """The built-in Icecast-style server; waits for its ready line (with the URLs and
        the port it got: without ``port`` it binds port 0)."""
        proc = self._proc(
            name,
            [
                "-m",
                "airtrack.demo.icecast",
                "--port",
                str(port or 0),
                "--stations",
                str(stations),
                "--seed",
                str(seed),
                "--speed",
                str(speed),
                "--catalog-size",
                str(catalog_size),
                *(extra or []),
            ],
        )
        proc.info = self._wait_ready_line(proc, timeout)
        return proc

    def _wait_ready_line(self, proc: Proc, timeout: float) -> dict[str, Any]:
        return self._wait_log_event(proc, "ready", timeout)

    def _wait_log_event(self, proc: Proc, event: str, timeout: float) -> dict[str, Any]:
        """The first JSON line of this run's output whose ``event`` is ``event``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited: {self.tail(proc.name)}")
            with open(proc.log_path, "rb") as fh:
                fh.seek(proc.log_offset)  # an earlier run's ready line names its old port
                text = fh.read().decode(errors="replace")
            for line in text.splitlines():
                if line.startswith("{") and f'"{event}"' in line:
                    with contextlib.suppress(ValueError):
                        info: dict[str, Any] = json.loads(line)
                        if info.get("event") == event:
                            return info
            time.sleep(0.1)
        raise RuntimeError(f"{proc.name} did not become ready: {self.tail(proc.name)}")

    def start_orchestrator(
        self,
        name: str = "orchestrator",
        port: int | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> Proc:
        """An orchestrator on ``port``, or on port 0 and the port it logs that it got."""
        proc = self._proc(name, ["-m", "airtrack", "orchestrator", "--port", str(port or 0)], env)
        if not port:
            port = int(self._wait_log_event(proc, "orchestrator.listening", timeout)["port"])
        url = f"http://127.0.0.1:{port}"
        proc.info = {"url": url, "port": port}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{name} exited: {self.tail(name)}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"{name} did not start: {self.tail(name)}")
        if self.orchestrator_url is None:
            self.orchestrator_url = url
        return proc

    def start_worker(
        self,
        worker_id: str,
        *,
        capacity: int = 10,
        orchestrator: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Proc:
        url = orchestrator or self.orchestrator_url
        if url is None:
            raise RuntimeError("start the orchestrator first")
        return self._proc(
            worker_id,
            [
                "-m",
                "airtrack",
                "worker",
                "--orchestrator",
                url,
                "--id",
                worker_id,
                "--capacity",
                str(capacity),
            ],
            env,
        )

    # -- control ------------------------------------------------------------------

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        """Stop every process this cluster started (workers first, then the rest)."""
        order = sorted(
            self.procs.values(),
            key=lambda p: (p.name.startswith("orchestrator"), p.name == "stations"),
        )
        for proc in order:
            try:
                proc.stop()
            except Exception as exc:  # keep stopping the others
                log.warning("cluster.stop_failed", name=proc.name, error=str(exc))

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
