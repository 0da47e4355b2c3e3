"""A real Icecast 2 server on 127.0.0.1, fed by ffmpeg from catalog files in a known order.

``icecast2`` refuses to run as root: when we are root, the config tells it to drop to the
Debian package's ``icecast2``/``icecast`` user and group (``<changeowner>``) after binding.
ffmpeg plays a looping concat playlist (every song cut to ``SONG_S`` seconds) in real time
(``-re``), so the ground truth is the playlist order and the wall-clock start of the feed.
Burst-on-connect is off, so a listener hears the live edge (times within a second or two).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from airtrack.demo.catalog import demo_catalog

SONG_S = 30.0
PASSWORD = "e2e-source-pw"
MISSING = [b for b in ("icecast2", "ffmpeg") if shutil.which(b) is None]
APT = "apt-get install -y --no-install-recommends icecast2 ffmpeg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(port: int, logdir: Path, as_root: bool) -> str:
    owner = (
        "<security><chroot>0</chroot><changeowner><user>icecast2</user>"
        "<group>icecast</group></changeowner></security>"
        if as_root
        else ""
    )
    return f"""<icecast>
  <location>airtrack e2e</location><admin>e2e@localhost</admin>
  <limits><clients>50</clients><sources>4</sources><queue-size>524288</queue-size>
    <client-timeout>30</client-timeout><header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout><burst-on-connect>0</burst-on-connect>
    <burst-size>0</burst-size></limits>
  <authentication><source-password>{PASSWORD}</source-password>
    <relay-password>{PASSWORD}</relay-password><admin-user>admin</admin-user>
    <admin-password>{PASSWORD}</admin-password></authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>1</fileserve>
  <paths><basedir>/usr/share/icecast2</basedir><logdir>{logdir}</logdir>
    <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
    <alias source="/" destination="/status.xsl"/></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog>
    <loglevel>3</loglevel><logsize>10000</logsize></logging>
  {owner}
</icecast>
"""


@dataclass
class Icecast2:
    """One icecast2 process and one ffmpeg source per mount; ``stop()`` ends both by pid."""

    music: Path
    mounts: list[str] = field(default_factory=lambda: ["live"])
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="airtrack-ice-")))
    port: int = 0
    server: subprocess.Popen[bytes] | None = None
    feeds: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    playlists: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # (file, title)

    @property
    def urls(self) -> dict[str, str]:
        return {m: f"http://127.0.0.1:{self.port}/{m}" for m in self.mounts}

    def start(self, timeout: float = 20.0) -> Icecast2:
        as_root = os.geteuid() == 0
        logdir = self.dir / "log"
        logdir.mkdir()
        if as_root:
            pw = pwd.getpwnam("icecast2")
            os.chown(logdir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.dir, 0o755)
        self.port = _free_port()
        conf = self.dir / "icecast.xml"
        conf.write_text(_config(self.port, logdir, as_root))
        conf.chmod(0o644)
        out = open(self.dir / "icecast2.out", "wb")  # noqa: SIM115 - child's stdout, closed below
        self.server = subprocess.Popen(
            ["icecast2", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"icecast2 exited: {self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/status-json.xsl", timeout=1).is_success:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"icecast2 did not start: {self.log_tail()}")
        specs = {s.name: s for s in demo_catalog(12)}
        for i, mount in enumerate(self.mounts):
            names = sorted(specs)[i * 3 :] + sorted(specs)[: i * 3]
            names = names[:6]
            self.playlists[mount] = [(str(self.music / f"{n}.mp3"), specs[n].title) for n in names]
            self._feed(mount)
        self._wait_mounts(timeout)
        return self

    def _feed(self, mount: str) -> None:
        listing = self.dir / f"{mount}.txt"
        listing.write_text(
            "".join(f"file '{f}'\noutpoint {SONG_S}\n" for f, _ in self.playlists[mount])
        )
        out = open(self.dir / f"ffmpeg-{mount}.log", "wb")  # noqa: SIM115 - closed below
        self.started[mount] = time.time()
        self.feeds[mount] = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-re",
             "-stream_loop", "-1", "-f", "concat", "-safe", "0", "-i", str(listing),
             "-c:a", "libmp3lame", "-b:a", "128k", "-ar", "22050", "-ac", "1",
             "-content_type", "audio/mpeg", "-f", "mp3",
             f"icecast://source:{PASSWORD}@127.0.0.1:{self.port}/{mount}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        out.close()

    def _wait_mounts(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                st = httpx.get(f"http://127.0.0.1:{self.port}/status-json.xsl", timeout=1).json()
                src = st["icestats"].get("source", [])
                src = src if isinstance(src, list) else [src]
                live = {s["listenurl"].rsplit("/", 1)[-1] for s in src}
                if set(self.mounts) <= live:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"ffmpeg sources did not connect: {self.log_tail()}")

    def truth(self, mount: str, until: float | None = None) -> list[dict[str, Any]]:
        """Airings as the built-in server reports them: kind, title, wall-clock start/end."""
        until = until or time.time()
        t, out, i = self.started[mount], [], 0
        playlist = self.playlists[mount]
        while t < until:
            _, title = playlist[i % len(playlist)]
            out.append({"kind": "song", "title": title, "start": t, "end": t + SONG_S})
            t += SONG_S
            i += 1
        return out

    def log_tail(self) -> str:
        parts = []
        for p in [self.dir / "icecast2.out", self.dir / "log" / "error.log"]:
            if p.exists():
                parts.append(p.read_text(errors="replace")[-1500:])
        return "\n".join(parts)

    def stop(self) -> None:
        for proc in [*self.feeds.values(), self.server]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
