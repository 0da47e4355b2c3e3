"""The fault-injecting TCP proxy itself: modes pass, blackhole, delay, reset (see the package).

Every connection is a :class:`_Link` (client side and upstream twin); the mode applies to new
*and* existing links, switched from the proxy's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType
from typing import Any, Literal, Self

import structlog

__all__ = ["MODES", "FaultProxy", "Mode", "check_mode"]

Mode = Literal["pass", "blackhole", "delay", "reset"]
MODES: tuple[Mode, ...] = ("pass", "blackhole", "delay", "reset")
_CHUNK = 65536
_LOOPBACK = {"127.0.0.1", "localhost"}

log = structlog.get_logger(__name__)


def check_mode(mode: str) -> Mode:
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
        self._mode: Mode = check_mode(mode)
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
        self._mode = check_mode(mode)
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
