"""One webhook request, bounded: the address it connects to is checked, its whole time
is one deadline, and at most a few KB of the answer are read.

- The client resolves the host itself when it opens a connection and checks every
  address against the webhook URL policy (:mod:`.url_policy`), then connects to the
  checked address: a name that resolves to a refused address (say, rebound to
  127.0.0.1 after the URL was accepted) is refused at delivery time, with no window
  between the check and the connection. No proxy from the environment, no redirects.
- ``webhook_timeout_s`` bounds the whole request (connect, send, answer) rather than
  each read: a receiver trickling one byte at a time cannot hold a delivery past it,
  so a delivery always ends within the endpoint's lease (``webhook_lease_s``).
- The answer body is streamed and reading stops after ``webhook_answer_max_bytes``
  (plus at most one network read), so a receiver answering hundreds of MB costs the
  orchestrator a few KB.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpcore
import httpx

from airtrack.errors import first_line
from airtrack.settings import Settings

from .url_policy import AddressPolicy, address_refusal, webhook_policy, webhook_url_refusal


@dataclass(frozen=True)
class Answer:
    """How one request ended. ``error`` is None exactly for a 2xx answer."""

    error: str | None
    status: int | None = None
    #: Answer body bytes read (at most the cap plus one network read).
    answer_bytes: int = 0


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address against the policy, connects to a checked one."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {first_line(exc)}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for a in addresses:  # every one: the first that works is not the only one used
            why = address_refusal(ipaddress.ip_address(a.split("%")[0]), self.policy)
            if why is not None:
                raise httpcore.ConnectError(f"refused by the webhook URL policy: {why}")
        last: Exception = httpcore.ConnectError(f"{host} has no address")
        for a in addresses:
            try:
                return await self.inner.connect_tcp(
                    a, port, timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over :class:`CheckedBackend` (no proxy, no environment)."""

    def __init__(self, policy: AddressPolicy, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=CheckedBackend(policy),
        )


def webhook_client(settings: Settings, *, max_connections: int = 1000) -> httpx.AsyncClient:
    """The client every webhook request goes through (delivery and the test route)."""
    limits = httpx.Limits(max_keepalive_connections=100, max_connections=max_connections)
    return httpx.AsyncClient(
        transport=CheckedTransport(webhook_policy(settings), limits),
        timeout=httpx.Timeout(settings.webhook_timeout_s),
        follow_redirects=False,
        trust_env=False,
    )


async def post(
    http: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    settings: Settings,
) -> Answer:
    """POST ``body``; any 2xx answer is success. Never raises for the receiver's doing.

    The URL is judged again first: a row stored before the policy (or by hand) with a
    malformed URL fails here, counted as a failure, instead of raising in the client.
    """
    why = webhook_url_refusal(url, settings)
    if why is not None:
        return Answer(f"refused by the webhook URL policy: {why}")
    cap = settings.webhook_answer_max_bytes
    read = 0
    status: int | None = None
    try:
        async with asyncio.timeout(settings.webhook_timeout_s):
            async with http.stream("POST", url, content=body, headers=headers) as resp:
                status = resp.status_code
                async for chunk in resp.aiter_raw():
                    read += len(chunk)
                    if read >= cap:
                        break  # leaving the block closes the connection unread
    except TimeoutError:
        return Answer(
            f"no complete answer within the {settings.webhook_timeout_s:g} s deadline",
            status,
            read,
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Answer(f"{type(exc).__name__}: {first_line(exc)}"[:500], status, read)
    if status is not None and 200 <= status < 300:
        return Answer(None, status, read)
    return Answer(f"HTTP {status}", status, read)
