"""Drive the proxy in a subprocess (``python -m airtrack.testing.faultproxy``) from a test."""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import subprocess
import sys
import threading
import urllib.request
from types import TracebackType
from typing import Any, Self, cast

from airtrack.processes import die_with_parent
from airtrack.testing.faultproxy.proxy import check_mode

__all__ = ["FaultProxyProcess"]


class FaultProxyProcess:
    """Run the proxy as a subprocess and drive it over its control endpoint (blocking API)."""

    def __init__(self, upstream: tuple[str, int], *, mode: str = "pass", delay_ms: float = 0.0):
        self.upstream = upstream
        self._args = ["--mode", check_mode(mode), "--delay-ms", str(delay_ms)]
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.control_port = 0

    def start(self, timeout_s: float = 20.0) -> None:
        host, port = self.upstream
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "airtrack.testing.faultproxy", "--listen", "0",
             "--upstream", f"{host}:{port}", "--control-port", "0", *self._args],
            stdout=subprocess.PIPE,
            text=True,
            # a test tool: it dies with whoever started it, even one killed with SIGKILL
            preexec_fn=functools.partial(die_with_parent, signal.SIGKILL),
        )  # fmt: skip
        assert self.proc.stdout is not None
        ready: dict[str, int] = {}

        def read_ready() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for _ in range(100):  # bounded: skip anything that is not the ready line
                line = self.proc.stdout.readline()
                if not line:
                    return
                with contextlib.suppress(ValueError):
                    found = json.loads(line)
                    if isinstance(found, dict) and "listen" in found:
                        ready.update(found)
                        return

        reader = threading.Thread(target=read_ready, daemon=True)
        reader.start()
        reader.join(timeout_s)
        if "listen" not in ready:
            self.stop()
            raise RuntimeError("fault proxy did not start")
        self.port, self.control_port = ready["listen"], ready["control"]

    def _call(self, path: str, timeout_s: float = 5.0) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.control_port}{path}"
        req = urllib.request.Request(url, method="POST")
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return cast(dict[str, Any], json.loads(resp.read()))

    def set_mode(self, mode: str, delay_ms: float | None = None) -> dict[str, Any]:
        query = f"?delay_ms={delay_ms}" if delay_ms is not None else ""
        return self._call(f"/mode/{check_mode(mode)}{query}")

    def status(self) -> dict[str, Any]:
        return self._call("/status")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
