"""The fault proxy against a real HTTP server on 127.0.0.1, in-process and as a subprocess."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from airtrack.testing.faultproxy import FaultProxy, FaultProxyProcess


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # resets from the proxy are the point of these tests


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    server = _QuietServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield ("127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def _get(port: int, path: str = "/") -> bytes:
    """A raw HTTP/1.0 GET: write the request, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()


async def test_pass_through_http(upstream: tuple[str, int]) -> None:
    async with FaultProxy(upstream=upstream) as proxy:
        async with httpx.AsyncClient(timeout=5) as client:
            resp = await client.get(f"http://127.0.0.1:{proxy.port}/a/b")
        assert resp.status_code == 200
        assert resp.text == "hello /a/b"
        raw = await asyncio.wait_for(_get(proxy.port, "/raw"), 5)
        assert raw.startswith(b"HTTP/1.0 200") and raw.endswith(b"hello /raw")
        assert proxy.connections_total == 2
        assert proxy.bytes_forwarded > 0


async def test_blackhole_times_out_then_pass_recovers(upstream: tuple[str, int]) -> None:
    async with FaultProxy(upstream=upstream) as proxy:
        proxy.set_mode("blackhole")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(_get(proxy.port, "/x"), 0.3)
        # a request held in the blackhole flows once the network is back (TCP retransmits)
        held = asyncio.create_task(asyncio.wait_for(_get(proxy.port, "/held"), 5))
        await asyncio.sleep(0.3)
        assert not held.done()
        proxy.set_mode("pass")
        assert (await held).endswith(b"hello /held")
        assert (await asyncio.wait_for(_get(proxy.port, "/new"), 5)).endswith(b"hello /new")


async def test_blackhole_stalls_an_open_connection(upstream: tuple[str, int]) -> None:
    async with FaultProxy(upstream=upstream) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        try:
            writer.write(b"GET /slow HTTP/1.0\r\n")  # headers not finished yet
            await writer.drain()
            await asyncio.sleep(0.1)
            proxy.set_mode("blackhole")
            writer.write(b"Host: x\r\n\r\n")
            await writer.drain()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.read(1), 0.3)
        finally:
            writer.close()


async def test_reset_new_and_existing_connections(upstream: tuple[str, int]) -> None:
    async with FaultProxy(upstream=upstream) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"GET /open HTTP/1.0\r\n")  # server waits for the rest
        await writer.drain()
        await asyncio.sleep(0.1)
        proxy.set_mode("reset")
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(100), 2)
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(100), 2)
        writer.close()

        proxy.set_mode("pass")
        assert (await asyncio.wait_for(_get(proxy.port, "/back"), 5)).endswith(b"hello /back")


async def test_delay_adds_latency_per_chunk(upstream: tuple[str, int]) -> None:
    async with FaultProxy(upstream=upstream) as proxy:
        start = time.perf_counter()
        await asyncio.wait_for(_get(proxy.port), 5)
        fast = time.perf_counter() - start

        proxy.set_mode("delay", delay_ms=150)
        start = time.perf_counter()
        body = await asyncio.wait_for(_get(proxy.port), 5)
        slow = time.perf_counter() - start
        assert body.endswith(b"hello /")
        # the request chunk and at least one response chunk each wait 150 ms
        assert slow >= 0.29
        assert slow - fast >= 0.2
        assert proxy.status()["mode"] == "delay"


async def test_upstream_down_resets_client() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # nothing listens once closed
    async with FaultProxy(upstream=("127.0.0.1", dead_port)) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(100), 2)
        writer.close()


def test_rejects_non_loopback_and_unknown_modes() -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        FaultProxy(upstream=("10.0.0.1", 80))
    proxy = FaultProxy(upstream=("127.0.0.1", 80))
    with pytest.raises(ValueError, match="unknown mode"):
        proxy.set_mode("drop")


def _sync_get(port: int, path: str, timeout_s: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        chunks = []
        for _ in range(1000):
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_subprocess_proxy_switched_over_control_endpoint(upstream: tuple[str, int]) -> None:
    proxy = FaultProxyProcess(upstream)
    proxy.start()
    proc = proxy.proc
    assert proc is not None
    try:
        assert _sync_get(proxy.port, "/p", 5).endswith(b"hello /p")

        assert proxy.set_mode("blackhole")["mode"] == "blackhole"
        with pytest.raises(TimeoutError):
            _sync_get(proxy.port, "/bh", 0.3)

        proxy.set_mode("reset")
        with pytest.raises(ConnectionResetError):
            _sync_get(proxy.port, "/rst", 2)

        proxy.set_mode("delay", delay_ms=100)
        start = time.perf_counter()
        assert _sync_get(proxy.port, "/d", 5).endswith(b"hello /d")
        assert time.perf_counter() - start >= 0.19

        proxy.set_mode("pass")
        assert _sync_get(proxy.port, "/again", 5).endswith(b"hello /again")
        status = proxy.status()
        assert status["mode"] == "pass" and status["connections_total"] >= 5

        url = f"http://127.0.0.1:{proxy.control_port}/mode/bogus"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5)
        assert err.value.code == 400
        assert "unknown mode" in json.loads(err.value.read())["error"]
        err.value.close()
    finally:
        proxy.stop()
    assert proc.returncode == 0  # SIGTERM → clean shutdown
