"""A real Icecast 2 server on 127.0.0.1, fed by ffmpeg from catalog files in a known order.

``icecast2`` refuses to run as root: when we are root, the config tells it to drop to the
Debian package's ``icecast2``/``icecast`` user and group (``<changeowner>``) after binding.
The 6 songs of a mount are first rendered into one PCM WAV file, each decoded, padded and
cut to exactly ``SONG_S`` seconds; ffmpeg then plays a concat playlist naming that file again
and again for ``FEED_HOURS`` in real time (``-re``), encoding to MP3 for the mount.

* Not ``-stream_loop -1`` over a concat playlist: ffmpeg 5.1's concat demuxer cannot seek back
  to the start ("Seek to start failed."), so such a feed EXITS after one pass and the mount
  disappears (every later airing then looked "lost").
* Not the MP3s cut with concat ``outpoint``: each MP3 starts with ~50 ms of encoder delay at
  negative timestamps and ends early, so a "30 s" song held only ~29.964 s of audio; ``-re``
  paces by timestamps, so the mount under-ran real time by ~1200 ppm and a listener that
  dates audio by sample count (as the worker does) drifted ~36 ms earlier per song.

Ground truth: song ``k`` has output timestamps (and audio) from ``k * SONG_S`` on;
``-progress pipe:1`` reports the output time (``out_time_us``) every ``PROGRESS_S``, and a
reader thread stamps each report with the wall clock. Song ``k`` started on air at
``wall - (out_time - k * SONG_S)`` of the first report past its boundary, so start-up latency
and any stall of ffmpeg are measured, not assumed. Burst-on-connect is off, so a listener
hears the live edge.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from airtrack.demo.catalog import demo_catalog
from airtrack.demo.cluster import free_port as _free_port
from tests.support.processes import spawn

SONG_S = 30.0
FEED_HOURS = 4.0  # playlist length; longer than any test or benchmark run
PROGRESS_S = 0.5  # ffmpeg -stats_period
#: Starts of the server before a test gives up on it (see ``Icecast2._start``)
SERVER_ATTEMPTS = 3
RATE = 22050  # the mount's sample rate (mono)
PASSWORD = "e2e-source-pw"
MISSING = [b for b in ("icecast2", "ffmpeg") if shutil.which(b) is None]
APT = "apt-get install -y --no-install-recommends icecast2 ffmpeg"


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
    started: dict[str, float] = field(default_factory=dict)  # when ffmpeg was spawned
    progress: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # (wall, out)
    playlists: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # (file, title)

    @property
    def urls(self) -> dict[str, str]:
        return {m: f"http://127.0.0.1:{self.port}/{m}" for m in self.mounts}

    def start(self, timeout: float = 20.0) -> Icecast2:
        """Start icecast2 and one ffmpeg feed per mount; on any failure stop what started."""
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> Icecast2:
        as_root = os.geteuid() == 0
        logdir = self.dir / "log"
        logdir.mkdir()
        if as_root:
            pw = pwd.getpwnam("icecast2")
            os.chown(logdir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.dir, 0o755)
        # Debian's icecast2 2.4.4 has segfaulted right after logging its start (once in
        # some thirty starts here, a NULL read in libc, before any source or listener):
        # a server that dies while starting is started again, on a fresh port
        for attempt in range(1, SERVER_ATTEMPTS + 1):
            died = self._start_server(logdir, as_root, timeout)
            if died is None:
                break
            if attempt == SERVER_ATTEMPTS:
                raise RuntimeError(f"icecast2 exited ({died}), {attempt} times: {self.log_tail()}")
            sys.stderr.write(f"icecast2 exited while starting ({died}); starting it again\n")
        specs = {s.name: s for s in demo_catalog(12)}
        for i, mount in enumerate(self.mounts):
            names = sorted(specs)[i * 3 :] + sorted(specs)[: i * 3]
            names = names[:6]
            self.playlists[mount] = [(str(self.music / f"{n}.mp3"), specs[n].title) for n in names]
            self._feed(mount)
        self._wait_mounts(timeout)
        return self

    def _start_server(self, logdir: Path, as_root: bool, timeout: float) -> str | None:
        """Start icecast2 and wait until it answers; how it died if it exited meanwhile."""
        self.port = _free_port()  # icecast2 takes its port from its config: no port 0
        conf = self.dir / "icecast.xml"
        conf.write_text(_config(self.port, logdir, as_root))
        conf.chmod(0o644)
        out = open(self.dir / "icecast2.out", "wb")  # noqa: SIM115 - child's stdout, closed below
        self.server = spawn(["icecast2", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.server.poll()
            if code is not None:
                return f"signal {-code}" if code < 0 else f"status {code}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/status-json.xsl", timeout=1).is_success:
                    return None
            time.sleep(0.2)
        raise RuntimeError(f"icecast2 did not start: {self.log_tail()}")

    def _feed(self, mount: str) -> None:
        pcm = self._render(mount)
        listing = self.dir / f"{mount}.txt"
        cycle_s = SONG_S * len(self.playlists[mount])
        cycles = int(FEED_HOURS * 3600 / cycle_s) + 1
        listing.write_text(f"file '{pcm}'\nduration {cycle_s}\n" * cycles)
        err = open(self.dir / f"ffmpeg-{mount}.log", "wb")  # noqa: SIM115 - closed below
        self.started[mount] = time.time()
        self.progress[mount] = []
        proc = spawn(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning", "-nostats",
             "-progress", "pipe:1", "-stats_period", str(PROGRESS_S), "-re",
             "-f", "concat", "-safe", "0", "-i", str(listing),
             "-c:a", "libmp3lame", "-b:a", "128k", "-ar", str(RATE), "-ac", "1",
             "-content_type", "audio/mpeg", "-f", "mp3",
             f"icecast://source:{PASSWORD}@127.0.0.1:{self.port}/{mount}"],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        err.close()
        self.feeds[mount] = proc
        threading.Thread(
            target=self._read_progress, args=(mount, proc), daemon=True, name=f"ffmpeg-{mount}"
        ).start()

    def _render(self, mount: str) -> Path:
        """The mount's playlist as one mono 16-bit WAV, every song exactly ``SONG_S`` long."""
        n = round(SONG_S * RATE) * 2
        chunks = []
        for path, _ in self.playlists[mount]:
            pcm = subprocess.run(
                ["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-af", "apad",
                 "-t", str(SONG_S), "-ar", str(RATE), "-ac", "1", "-f", "s16le", "-"],
                capture_output=True, check=True, timeout=60,
            ).stdout  # fmt: skip
            chunks.append(pcm[:n].ljust(n, b"\0"))
        out = self.dir / f"{mount}.wav"
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(b"".join(chunks))
        return out

    def _read_progress(self, mount: str, proc: subprocess.Popen[bytes]) -> None:
        """Stamp every ``out_time_us=`` report of ffmpeg with the wall clock."""
        assert proc.stdout is not None
        reports = self.progress[mount]
        for raw in proc.stdout:
            t = time.time()
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit() and int(value) > 0:
                reports.append((t, int(value) / 1e6))  # list.append is atomic under the GIL
        proc.stdout.close()

    def feed_problem(self, mount: str) -> str | None:
        """Why the feed of ``mount`` is not on air any more (None while ffmpeg runs)."""
        proc = self.feeds.get(mount)
        if proc is None or proc.poll() is None:
            return None
        log = self.dir / f"ffmpeg-{mount}.log"
        tail = log.read_text(errors="replace")[-300:] if log.exists() else ""
        return f"ffmpeg feed of /{mount} exited with {proc.returncode}: {tail.strip()!r}"

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

    def song_starts(self, mount: str, until: float | None = None) -> list[float]:
        """Wall-clock time at which each song boundary ``k * SONG_S`` went out, up to ``until``.

        Measured from the progress reports (see the module docstring); a boundary not yet
        reported is extrapolated from the last report while ffmpeg runs (real-time pacing),
        and there are none after the feed died.
        """
        until = until or time.time()
        reports = list(self.progress.get(mount, []))
        alive = self.feeds[mount].poll() is None
        out: list[float] = []
        i = 0
        while True:
            media = len(out) * SONG_S
            while i < len(reports) and reports[i][1] < media:
                i += 1
            if i < len(reports):
                wall, at = reports[i]
                if i > 0 and at - reports[i - 1][1] > 0:  # interpolate between two reports
                    w0, a0 = reports[i - 1]
                    start = w0 + (media - a0) * (wall - w0) / (at - a0)
                else:
                    start = wall - (at - media)
            elif alive:
                wall, at = reports[-1] if reports else (self.started[mount], 0.0)
                start = wall + (media - at)
            else:
                break
            if start >= until:
                break
            out.append(start)
        return out

    def truth(self, mount: str, until: float | None = None) -> list[dict[str, Any]]:
        """Airings as the built-in server reports them: kind, title, wall-clock start/end."""
        until = until or time.time()
        playlist = self.playlists[mount]
        starts = self.song_starts(mount, until)
        out = []
        for k, t in enumerate(starts):
            _, title = playlist[k % len(playlist)]
            end = starts[k + 1] if k + 1 < len(starts) else t + SONG_S
            out.append({"kind": "song", "title": title, "start": t, "end": end})
        return out

    def set_title(self, mount: str, song: str, charset: str = "UTF-8") -> None:
        """Set the mount's in-band title as a playout system does: the admin ``updinfo``
        call (icecast2 then sends it to ICY listeners as ``StreamTitle``)."""
        r = httpx.get(
            f"http://127.0.0.1:{self.port}/admin/metadata",
            params={"mount": f"/{mount}", "mode": "updinfo", "song": song, "charset": charset},
            auth=("admin", PASSWORD),
            timeout=5,
        )
        r.raise_for_status()

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
