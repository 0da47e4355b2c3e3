"""A real ``airtrack orchestrator`` process for tests, on port 0, stopped by pid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import spawn, stop
from tests.support.tokens import ADMIN, WORKER

LEASE_S = 3.0


class Replica:
    """``airtrack orchestrator --port 0`` (short timers unless ``fast_timers=False``);
    :attr:`port` is the one it logged that it got (``orchestrator.listening``)."""

    def __init__(
        self,
        db_url: str,
        home: Path,
        log: Path,
        env: dict[str, str] | None = None,
        *,
        fast_timers: bool = True,
    ) -> None:
        timers = {
            "AIRTRACK_HEARTBEAT_INTERVAL_S": "1",
            "AIRTRACK_LEASE_TTL_S": str(LEASE_S),
            "AIRTRACK_CONTROL_TICK_S": "0.5",
            "AIRTRACK_START_GRACE_S": "0",
        }
        env = {
            **os.environ,
            "AIRTRACK_DATABASE_URL": db_url,
            "AIRTRACK_HOME": str(home),
            "AIRTRACK_ADMIN_TOKEN": ADMIN,
            "AIRTRACK_WORKER_TOKEN": WORKER,
            **(timers if fast_timers else {}),
            "AIRTRACK_LOG_JSON": "true",
            # webhooks go to the tests' own receivers on loopback, and only there
            "AIRTRACK_WEBHOOK_ALLOW_PRIVATE": "true",
            "AIRTRACK_WEBHOOK_NETWORKS": "127.0.0.0/8,::1/128",
            **(env or {}),
        }
        self.log = log
        self._fh = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = spawn(
            [sys.executable, "-m", "airtrack", "orchestrator", "--port", "0"],
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = self._listening_port(60.0)
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listening_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text(errors="replace").splitlines():
                if '"orchestrator.listening"' in line and line.startswith("{"):
                    return int(json.loads(line)["port"])
            if self.proc.poll() is not None:
                raise AssertionError(f"replica died: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        raise AssertionError(f"replica did not listen: {self.log.read_text()[-2000:]}")

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self._listening_port(timeout)}"
        self._port = int(url.rsplit(":", 1)[1])
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"replica died: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("replica did not become ready")

    def stop(self) -> None:
        stop(self.proc)
        self._fh.close()
