"""A fault-injecting TCP proxy for chaos tests (issue 7): pass, blackhole, delay, reset.

The proxy listens on 127.0.0.1 and forwards every connection to one upstream on 127.0.0.1.
Its mode can be switched at run time and applies to new *and* existing connections:

* ``pass``      forward bytes both ways.
* ``blackhole`` accept connections but forward nothing in either direction; bytes wait in the
  socket buffers (like a network that drops packets and TCP that keeps retransmitting), so
  clients time out, and traffic resumes if the mode goes back to ``pass``.
* ``delay``     forward, sleeping ``delay_ms`` before each chunk (both directions).
* ``reset``     abort connections with a TCP RST (``SO_LINGER`` 0): existing ones at once, new
  ones right after accept.

In-process::

    async with FaultProxy(upstream=("127.0.0.1", port)) as proxy:
        proxy.set_mode("blackhole")          # proxy.port is where clients connect

As a process (for tests that drive other processes)::

    python -m airtrack.testing.faultproxy --listen 0 --upstream 127.0.0.1:8750 --control-port 0

prints one JSON line ``{"listen": P, "control": C, "pid": …}`` on stdout once ready, then serves
a tiny HTTP control endpoint on 127.0.0.1:C: ``GET /status``, ``POST /mode/<mode>?delay_ms=N``
(GET works too, for curl). SIGTERM or SIGINT stop it. :class:`FaultProxyProcess` wraps this.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal, Self, cast
from urllib.parse import parse_qs, urlsplit

import structlog

from airtrack.logging import configure_logging

__all__ = ["MODES", "FaultProxy", "FaultProxyProcess", "Mode"]

Mode = Literal["pass", "blackhole", "delay", "reset"]
MODES: tuple[Mode, ...] = ("pass", "blackhole", "delay", "reset")
_CHUNK = 65536
_LOOPBACK = {"127.0.0.1", "localhost"}

log = structlog.get_logger(__name__)


def _check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    return mode


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST rather than a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One client connection and its upstream twin."""

    def __init__(self, client_w: asyncio.StreamWriter) -> None:
        self.client_w = client_w
        self.upstream_w: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[Any] | None = None

    def reset(self) -> None:
        _rst(self.client_w)
        if self.upstream_w is not None:
            _rst(self.upstream_w)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()


class FaultProxy:
    """An asyncio TCP proxy whose fault mode can be switched at run time.

    ``set_mode`` must be called from the proxy's event loop (in-process use) or through the
    control endpoint of the subprocess.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        listen_port: int = 0,
        mode: str = "pass",
        delay_ms: float = 0.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        host, port = upstream
        if host not in _LOOPBACK:
            raise ValueError(f"upstream must be on 127.0.0.1, got {host!r}")
        self.upstream = ("127.0.0.1", int(port))
        self._listen_port = listen_port
        self._mode: Mode = _check_mode(mode)
        self._delay_s = max(0.0, delay_ms) / 1000
        self._connect_timeout_s = connect_timeout_s
        self._flowing = asyncio.Event()
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self.connections_total = 0
        self.bytes_forwarded = 0
        self._sync_flowing()

    # ---------------------------------------------------------------- control

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def delay_ms(self) -> float:
        return self._delay_s * 1000

    def set_mode(self, mode: str, delay_ms: float | None = None) -> None:
        """Switch mode; ``reset`` also aborts every open connection at once."""
        self._mode = _check_mode(mode)
        if delay_ms is not None:
            self._delay_s = max(0.0, delay_ms) / 1000
        self._sync_flowing()
        log.info("faultproxy.mode", mode=self._mode, delay_ms=self.delay_ms, links=len(self._links))
        if self._mode == "reset":
            for link in list(self._links):
                link.reset()

    def status(self) -> dict[str, Any]:
        return {
            "mode": self._mode,
            "delay_ms": self.delay_ms,
            "listen": self.port if self._server else None,
            "upstream": f"{self.upstream[0]}:{self.upstream[1]}",
            "open_connections": len(self._links),
            "connections_total": self.connections_total,
            "bytes_forwarded": self.bytes_forwarded,
        }

    def _resetting(self) -> bool:
        return self._mode == "reset"

    def _sync_flowing(self) -> None:
        if self._mode == "blackhole":
            self._flowing.clear()
        else:
            self._flowing.set()

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", self._listen_port)
        log.info("faultproxy.started", listen=self.port, upstream=self.upstream, mode=self._mode)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        links = list(self._links)
        for link in links:
            link.reset()
        tasks = [link.task for link in links if link.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        await self._server.wait_closed()
        log.info("faultproxy.stopped", connections_total=self.connections_total)
        self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---------------------------------------------------------------- forwarding

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Our own task rather than asyncio's callback task: that one logs an error when it
        # ends cancelled (Python 3.11), which is how stop() and reset end links.
        self.connections_total += 1
        if self._resetting():
            _rst(writer)
            return
        link = _Link(writer)
        self._links.add(link)
        link.task = asyncio.create_task(self._run_link(link, reader, writer))

    async def _run_link(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await self._flowing.wait()  # a blackholed connect waits here, accepted but silent
            try:
                up_r, up_w = await asyncio.wait_for(
                    asyncio.open_connection(*self.upstream), self._connect_timeout_s
                )
            except (OSError, TimeoutError) as exc:
                log.warning("faultproxy.upstream_unreachable", error=str(exc))
                _rst(writer)
                return
            link.upstream_w = up_w
            if self._resetting():  # switched while connecting
                link.reset()
                return
            await self._forward(reader, writer, up_r, up_w)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, OSError):
            link.reset()  # one side reset: pass the reset on to the other
        finally:
            self._links.discard(link)
            for w in (writer, link.upstream_w):
                if w is not None and not w.transport.is_closing():
                    w.close()

    async def _forward(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        up_r: asyncio.StreamReader,
        up_w: asyncio.StreamWriter,
    ) -> None:
        pumps = [
            asyncio.create_task(self._pump(client_r, up_w)),
            asyncio.create_task(self._pump(up_r, client_w)),
        ]
        try:
            done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                exc = None if task.cancelled() else task.exception()
                if exc is not None:
                    raise exc
        finally:
            for task in pumps:
                task.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        while True:
            await self._flowing.wait()
            data = await src.read(_CHUNK)
            if not data:
                break
            await self._flowing.wait()  # read just before a blackhole: hold it
            if self._delay_s and self._mode == "delay":
                await asyncio.sleep(self._delay_s)
                await self._flowing.wait()
            dst.write(data)
            await dst.drain()
            self.bytes_forwarded += len(data)
        if dst.can_write_eof() and not dst.transport.is_closing():
            with contextlib.suppress(OSError):
                dst.write_eof()


# -------------------------------------------------------------------- control endpoint


async def _control(
    proxy: FaultProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Minimal HTTP/1.0: ``GET /status``, ``POST /mode/<mode>?delay_ms=N``."""
    status, body = 400, {"error": "bad request"}
    try:
        line = (await asyncio.wait_for(reader.readline(), 5)).decode("latin-1")
        for _ in range(100):  # skip headers, bounded
            header = await asyncio.wait_for(reader.readline(), 5)
            if header in (b"\r\n", b"\n", b""):
                break
        parts = line.split()
        if len(parts) >= 2:
            url = urlsplit(parts[1])
            path = url.path.rstrip("/")
            query = parse_qs(url.query)
            if path == "/status":
                status, body = 200, proxy.status()
            elif path.startswith("/mode/"):
                delay = query.get("delay_ms")
                try:
                    proxy.set_mode(path.removeprefix("/mode/"), float(delay[0]) if delay else None)
                    status, body = 200, proxy.status()
                except ValueError as exc:
                    status, body = 400, {"error": str(exc)}
            else:
                status, body = 404, {"error": "not found"}
    except (TimeoutError, ConnectionError, UnicodeError):
        pass
    payload = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
    with contextlib.suppress(ConnectionError):
        writer.write(
            f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
    writer.close()


async def _serve(args: argparse.Namespace) -> None:
    host, _, port = args.upstream.rpartition(":")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with FaultProxy(
        (host, int(port)), listen_port=args.listen, mode=args.mode, delay_ms=args.delay_ms
    ) as proxy:
        control = await asyncio.start_server(
            lambda r, w: _control(proxy, r, w), "127.0.0.1", args.control_port
        )
        control_port = control.sockets[0].getsockname()[1]
        ready = {"listen": proxy.port, "control": control_port, "pid": os.getpid()}
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        await stop.wait()
        control.close()
        await control.wait_closed()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m airtrack.testing.faultproxy")
    ap.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (0: pick one)")
    ap.add_argument("--upstream", required=True, help="127.0.0.1:PORT")
    ap.add_argument("--control-port", type=int, default=0, help="HTTP control port (0: pick)")
    ap.add_argument("--mode", default="pass", choices=MODES)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args(argv)
    configure_logging(args.log_level)  # logs to stderr: stdout carries only the ready line
    asyncio.run(_serve(args))


# -------------------------------------------------------------------- subprocess wrapper


class FaultProxyProcess:
    """Run the proxy as a subprocess and drive it over its control endpoint (blocking API)."""

    def __init__(self, upstream: tuple[str, int], *, mode: str = "pass", delay_ms: float = 0.0):
        self.upstream = upstream
        self._args = ["--mode", _check_mode(mode), "--delay-ms", str(delay_ms)]
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
        return self._call(f"/mode/{_check_mode(mode)}{query}")

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


if __name__ == "__main__":
    main()
