"""The proxy as a process: its HTTP control endpoint and command line.

``main`` serves one :class:`~airtrack.testing.faultproxy.proxy.FaultProxy`, prints one JSON
ready line on stdout and answers ``GET /status`` and ``POST /mode/<mode>?delay_ms=N`` on the
control port until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

from airtrack.logging import configure_logging
from airtrack.testing.faultproxy.proxy import MODES, FaultProxy

__all__ = ["main"]


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
