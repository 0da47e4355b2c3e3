"""Ports for tests. Servers a test starts bind port 0 and report the port they got; this
module covers the other case: an address where nothing listens."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses every connection while the block runs: bound by this
    process and never listening, so no one else can start listening on it meanwhile
    (unlike a port found free, closed, and handed out)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
