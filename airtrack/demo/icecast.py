"""A small Icecast-style server for the demo and the tests (127.0.0.1 only by default).

Routes::

    GET /<mount>                   live MP3 with icy- headers (icy-metaint on Icy-MetaData: 1)
    GET /hls/<mount>/index.m3u8    live HLS window (AAC in MPEG-TS, 3 s segments)
    GET /truth/<mount>             ground truth of what aired (JSON)
    GET /status-json.xsl           Icecast-like status, with what each mount plays now
    GET /fault/404 | /fault/html | /fault/truncated?kib=N | /fault/silence | /fault/stall
        | /fault/redirect          broken streams for worker tests

Run: ``python -m airtrack.demo.icecast --port 0 --stations 4 --seed 1 --speed 1.0``; it
prints one line per station and then one JSON line (``{"event": "ready", "port": ...}``).
SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from airtrack.demo.broadcast import Station, StationConfig, encode_mp3, silence_mp3
from airtrack.demo.catalog import SongSpec, demo_catalog, music_catalog
from airtrack.demo.icyhttp import META_INT, IcyWriter, respond, write_head
from airtrack.demo.music import render_song
from airtrack.demo.playout import ProgrammeConfig

__all__ = ["META_INT", "IcecastServer", "default_stations", "main", "serve"]

log = structlog.get_logger(__name__)

GENRES = ["Pop", "Rock", "Indie", "Dance", "Jazz", "Oldies", "Electronic", "Folk"]
FAULTS = ["404", "html", "truncated", "silence", "stall", "redirect"]
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Not a stream</title></head>"
    b"<body><h1>Welcome to our radio website</h1><p>This is a web page, not audio.</p>"
    b"</body></html>"
)


def default_stations(n: int, seed: int, bitrate: int = 128_000) -> list[StationConfig]:
    """``n`` demo stations with different programmes (seeds, noise, crossfades)."""
    out = []
    for i in range(n):
        prog = ProgrammeConfig(snr_db=(35.0, 30.0, 25.0, 20.0)[i % 4])
        out.append(
            StationConfig(
                mount=f"station{i + 1}",
                name=f"Airtrack Demo FM {i + 1}",
                genre=GENRES[i % len(GENRES)],
                seed=seed * 1000 + i + 1,
                programme=prog,
                bitrate=bitrate,
                # one station's playout writes Windows-1252 titles, as some real servers do
                icy_encoding="cp1252" if i == 1 else "utf-8",
            )
        )
    return out


class IcecastServer:
    """The demo stations and fault mounts behind one asyncio HTTP server."""

    def __init__(
        self,
        stations: list[StationConfig],
        catalog: list[SongSpec],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        hls: bool = True,
        truncated_kib: int = 48,
    ) -> None:
        self.host, self.port, self.speed = host, port, speed
        self._hls_root = Path(tempfile.mkdtemp(prefix="airtrack-hls-")) if hls else None
        self.stations: dict[str, Station] = {
            c.mount: Station(
                c,
                catalog,
                speed=speed,
                hls_dir=self._hls_root / c.mount if self._hls_root else None,
            )
            for c in stations
        }
        self.truncated_kib = truncated_kib
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._conns: set[asyncio.Task[Any]] = set()
        self._fault_clip = b""
        self._silence = b""

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def urls(self) -> dict[str, Any]:
        b = self.base_url
        return {
            "port": self.port,
            "base_url": b,
            "mounts": {m: f"{b}/{m}" for m in self.stations},
            "hls": {m: f"{b}/hls/{m}/index.m3u8" for m in self.stations},
            "truth": {m: f"{b}/truth/{m}" for m in self.stations},
            "faults": {f: f"{b}/fault/{f}" for f in FAULTS},
            "hls_dir": str(self._hls_root) if self._hls_root else None,
        }

    async def start(self) -> None:
        """Prepare fault clips, start every station, listen; returns once audio is flowing."""
        for st in self.stations.values():
            self._tasks.append(asyncio.create_task(st.run(), name=f"station:{st.config.mount}"))
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        await asyncio.gather(*(st.ready.wait() for st in self.stations.values()))
        log.info("icecast_started", url=self.base_url, mounts=list(self.stations))

    async def stop(self) -> None:
        """Stop stations, close every connection, remove the HLS folder."""
        if self._server is not None:
            self._server.close()
        for t in self._tasks:
            t.cancel()
        for t in list(self._conns):
            t.cancel()
        await asyncio.gather(*self._tasks, *self._conns, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        if self._hls_root is not None:
            shutil.rmtree(self._hls_root, ignore_errors=True)
        log.info("icecast_stopped")

    # -- HTTP ---------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = [*lines[0].split(" "), "", ""][:3]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (ln.partition(":") for ln in lines[1:] if ":" in ln)
            }
            await self._route(method.upper(), target, headers, writer)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _route(
        self, method: str, target: str, headers: dict[str, str], w: asyncio.StreamWriter
    ) -> None:
        url = urlsplit(target)
        parts = [p for p in url.path.split("/") if p]
        head_only = method == "HEAD"
        if method not in ("GET", "HEAD"):
            await respond(w, 405, "text/plain", b"method not allowed\n")
        elif len(parts) == 1 and parts[0].removesuffix(".mp3") in self.stations:
            st = self.stations[parts[0].removesuffix(".mp3")]
            await self._stream(st, headers, w, head_only)
        elif len(parts) == 3 and parts[0] == "hls" and parts[1] in self.stations:
            await self._hls(parts[1], parts[2], w, head_only)
        elif len(parts) == 2 and parts[0] == "truth" and parts[1] in self.stations:
            body = json.dumps(self.stations[parts[1]].truth()).encode()
            await respond(w, 200, "application/json", body, head_only=head_only)
        elif parts in (["status-json.xsl"], ["status.json"]):
            await respond(w, 200, "application/json", json.dumps(self.status()).encode())
        elif len(parts) == 2 and parts[0] == "fault":
            await self._fault(parts[1], parse_qs(url.query), headers, w)
        else:
            await respond(w, 404, "text/plain", b"no such mount\n")

    def status(self) -> dict[str, Any]:
        sources = []
        for m, st in self.stations.items():
            now = st.programme.now_playing(st.now_s)
            sources.append(
                {
                    "listenurl": f"{self.base_url}/{m}",
                    "mount": m,
                    "server_name": st.config.name,
                    "genre": st.config.genre,
                    "bitrate": st.config.bitrate // 1000,
                    "listeners": len(st.listeners),
                    "title": st.title(),
                    "now_playing": now.to_json(st.wall_of) if now else None,
                }
            )
        return {"icestats": {"server_id": "airtrack-demo-icecast", "source": sources}}

    def _icy_headers(self, st: Station, metaint: bool) -> dict[str, str]:
        h = {
            "Content-Type": "audio/mpeg",
            "icy-name": st.config.name,
            "icy-genre": st.config.genre,
            "icy-br": str(st.config.bitrate // 1000),
            "icy-pub": "0",
            "icy-description": "airtrack demo station",
            "Cache-Control": "no-cache, no-store",
        }
        if metaint:
            h["icy-metaint"] = str(META_INT)
        return h

    async def _stream(
        self, st: Station, headers: dict[str, str], w: asyncio.StreamWriter, head_only: bool
    ) -> None:
        metaint = headers.get("icy-metadata", "0").strip() == "1"
        listener, burst = st.join()
        try:
            extra = self._icy_headers(st, metaint)
            if burst:
                extra["X-Programme-Time"] = f"{burst[0][0] / st.sr:.6f}"
            write_head(w, 200, extra)
            if head_only:
                return
            icy = IcyWriter(w, st, metaint)
            await icy.send(b"".join(d for _, d in burst))
            while True:
                data = await listener.queue.get()
                if data is None:
                    return
                await icy.send(data)
        finally:
            st.leave(listener)

    async def _hls(self, mount: str, name: str, w: asyncio.StreamWriter, head_only: bool) -> None:
        assert self._hls_root is not None
        folder = self._hls_root / mount
        path = folder / name
        if name not in ("index.m3u8",) and not (name.startswith("seg") and name.endswith(".ts")):
            await respond(w, 404, "text/plain", b"not found\n")
            return
        try:
            body = await asyncio.to_thread(path.read_bytes)
        except OSError:
            await respond(w, 404, "text/plain", b"segment gone\n")
            return
        ctype = "application/vnd.apple.mpegurl" if name.endswith(".m3u8") else "video/mp2t"
        await respond(w, 200, ctype, body, head_only=head_only)

    async def _fault_audio(self) -> tuple[bytes, bytes]:
        """A song clip and looping silence as MP3, made on first use."""
        if not self._fault_clip:
            sr = ProgrammeConfig().sr
            self._fault_clip = await asyncio.to_thread(
                lambda: encode_mp3(render_song(424242, 12.0, sr), sr)
            )
            self._silence = await asyncio.to_thread(silence_mp3, sr, 2.0)
        return self._fault_clip, self._silence

    async def _fault(
        self,
        name: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        w: asyncio.StreamWriter,
    ) -> None:
        await self._fault_audio()
        first = next(iter(self.stations.values()), None)
        icy = {"Content-Type": "audio/mpeg", "icy-name": f"fault {name}", "icy-br": "128"}
        if name == "404":
            await respond(w, 404, "text/html", b"<html><body>404 Not Found</body></html>")
        elif name == "html":
            await respond(w, 200, "text/html; charset=utf-8", HTML_PAGE)
        elif name == "redirect" and first is not None:
            loc = f"{self.base_url}/{first.config.mount}"
            await respond(w, 302, "text/plain", b"moved\n", {"Location": loc})
        elif name == "truncated":
            kib = int((query.get("kib") or [str(self.truncated_kib)])[0])
            write_head(w, 200, icy)
            w.write(self._fault_clip[: kib * 1024])
            await w.drain()
        elif name == "stall":
            write_head(w, 200, icy)
            w.write(self._fault_clip[: 32 * 1024])
            await w.drain()
            await asyncio.Event().wait()  # hold the socket open, send nothing, until stopped
        elif name == "silence":
            write_head(w, 200, icy)
            w.write(self._silence)  # a small burst, then real time
            await w.drain()
            while True:
                await asyncio.sleep(2.0 / self.speed)
                w.write(self._silence)
                await w.drain()
        else:
            await respond(w, 404, "text/plain", b"no such fault\n")


async def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM/SIGINT; print URLs and a JSON ready line."""
    stations = default_stations(args.stations, args.seed, args.bitrate * 1000)
    if args.max_song_s:
        stations = [
            replace(s, programme=replace(s.programme, max_song_s=args.max_song_s)) for s in stations
        ]
    catalog = music_catalog(args.music) if args.music else demo_catalog(args.catalog_size)
    if not catalog:
        print(f"no playable audio files in {args.music}", file=sys.stderr)
        return 2
    server = IcecastServer(
        stations,
        catalog,
        host=args.host,
        port=args.port,
        speed=args.speed,
        hls=not args.no_hls,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    urls = server.urls()
    for m, u in urls["mounts"].items():
        print(f"{m}: {u}  (HLS {urls['hls'][m]})")
    print(json.dumps({"event": "ready", "pid": os.getpid(), **urls}), flush=True)
    await stop.wait()
    await server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m airtrack.demo.icecast", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--stations", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--speed", type=float, default=1.0, help="playout speed (tests: >1)")
    p.add_argument("--catalog-size", type=int, default=12)
    p.add_argument("--bitrate", type=int, default=128, help="MP3 kbps")
    p.add_argument("--max-song-s", type=float, default=0.0, help="cap song airings (tests)")
    p.add_argument("--no-hls", action="store_true")
    p.add_argument("--music", default=None, help="play the songs in this folder (recursive)")
    args = p.parse_args(argv)
    from airtrack.logging import configure_logging

    configure_logging("INFO")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
