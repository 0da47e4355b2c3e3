"""A fault-injecting TCP proxy for chaos tests: pass, blackhole, delay, reset.

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

The package, one module per concept: :mod:`.proxy` (the proxy and its modes),
:mod:`.control` (the HTTP control endpoint and the command line), :mod:`.process`
(:class:`FaultProxyProcess`, the subprocess driven over that endpoint).
"""

from airtrack.testing.faultproxy.process import FaultProxyProcess
from airtrack.testing.faultproxy.proxy import MODES, FaultProxy, Mode

__all__ = ["MODES", "FaultProxy", "FaultProxyProcess", "Mode"]
