"""The HTTP/ICY wire format of the demo station server: response heads and in-band titles.

Icecast answers HTTP/1.0 and, when a listener sends ``Icy-MetaData: 1``, interleaves a
metadata block (the current ``StreamTitle``) after every ``icy-metaint`` bytes of audio.
"""

from __future__ import annotations

import asyncio

from airtrack.demo.broadcast import Station

META_INT = 16000


class IcyWriter:
    """Writes stream bytes, inserting ICY metadata blocks every META_INT bytes when asked."""

    def __init__(self, w: asyncio.StreamWriter, st: Station, enabled: bool) -> None:
        self.w, self.st, self.enabled = w, st, enabled
        self.left = META_INT
        self.sent_title: str | None = None

    async def send(self, data: bytes) -> None:
        if not self.enabled:
            self.w.write(data)
        else:
            while data:
                take, data = data[: self.left], data[self.left :]
                self.w.write(take)
                self.left -= len(take)
                if self.left == 0:
                    self.w.write(self._meta())
                    self.left = META_INT
        await asyncio.wait_for(self.w.drain(), 30.0)

    def _meta(self) -> bytes:
        title = self.st.title()
        if title == self.sent_title:
            return b"\x00"
        self.sent_title = title
        enc = self.st.config.icy_encoding
        text = f"StreamTitle='{title.replace(chr(39), '')}';".encode(enc, "replace")[: 16 * 255]
        n = -(-len(text) // 16)
        return bytes([n]) + text.ljust(16 * n, b"\x00")


_REASONS = {200: "OK", 302: "Found", 404: "Not Found", 405: "Method Not Allowed"}


def write_head(w: asyncio.StreamWriter, status: int, headers: dict[str, str]) -> None:
    lines = [f"HTTP/1.0 {status} {_REASONS.get(status, 'Status')}", "Server: Icecast 2.4.4"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    w.write(("\r\n".join([*lines, "Connection: close", "", ""])).encode("latin-1"))


async def respond(
    w: asyncio.StreamWriter,
    status: int,
    ctype: str,
    body: bytes,
    extra: dict[str, str] | None = None,
    *,
    head_only: bool = False,
) -> None:
    headers = {"Content-Type": ctype, "Content-Length": str(len(body)), **(extra or {})}
    write_head(w, status, headers)
    if not head_only:
        w.write(body)
    await w.drain()
