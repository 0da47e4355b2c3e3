"""Which outbound URLs the system fetches or posts to: one policy for stream URLs (fetched
by workers) and webhook URLs (posted to by the orchestrator); the table is in
docs/security.md#outbound-urls-streams-and-webhooks.

Both run inside the operator's network, on machines that hold credentials (a worker's
token; the orchestrator's database password), so a URL chosen by whoever holds the
admin token must not reach what only those machines can reach:

- link-local addresses (169.254.0.0/16, fe80::/10) and cloud metadata services (by
  name and by address, e.g. 169.254.169.254, fd00:ec2::254) hand out the machine's
  cloud credentials: refused unless explicitly allowed (streams only);
- the unspecified address (0.0.0.0, ::) means "this host", multicast is not a server:
  always refused;
- loopback and private ranges (and any other non-global range) only by opt-in: on for
  streams (a local Icecast is common), off for webhooks;
- with a network allow-list (``AIRTRACK_WEBHOOK_NETWORKS``), nothing outside it.

A host *name* is judged again by the addresses it resolves to when the connection is
made (:mod:`.webhook_http` for webhooks; workers for streams), so a name that resolves
to a refused address at delivery time is refused then.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from airtrack.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Host names of cloud metadata services (they answer on link-local addresses).
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data"}
)
#: Metadata services' addresses, refused even where private addresses are allowed.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True)
class AddressPolicy:
    """What one kind of outbound URL may reach; the setting names go into refusals."""

    allow_private: bool
    allow_link_local: bool
    private_setting: str
    link_local_setting: str | None = None
    networks: tuple[IPNetwork, ...] = ()
    networks_setting: str | None = None


def stream_policy(settings: Settings) -> AddressPolicy:
    return AddressPolicy(
        allow_private=settings.stream_allow_private,
        allow_link_local=settings.stream_allow_link_local,
        private_setting="AIRTRACK_STREAM_ALLOW_PRIVATE",
        link_local_setting="AIRTRACK_STREAM_ALLOW_LINK_LOCAL",
    )


def webhook_policy(settings: Settings) -> AddressPolicy:
    return AddressPolicy(
        allow_private=settings.webhook_allow_private,
        allow_link_local=False,
        private_setting="AIRTRACK_WEBHOOK_ALLOW_PRIVATE",
        networks=parse_networks(settings.webhook_networks),
        networks_setting="AIRTRACK_WEBHOOK_NETWORKS",
    )


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"127.0.0.0/8, ::1"`` → networks; ValueError on anything else."""
    return tuple(
        ipaddress.ip_network(n.strip(), strict=False) for n in text.split(",") if n.strip()
    )


def address_refusal(addr: IPAddress, policy: AddressPolicy) -> str | None:
    """Why ``addr`` is refused by ``policy``, or None."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr in METADATA_ADDRESSES or addr.is_link_local:
        if not policy.allow_link_local:
            hint = f" (set {policy.link_local_setting})" if policy.link_local_setting else ""
            return f"{addr} is a link-local or cloud metadata address{hint}"
    elif addr.is_unspecified or addr.is_multicast:
        return f"{addr} is not a server's address"
    elif not addr.is_global and not policy.allow_private:
        return f"{addr} is a loopback or private address ({policy.private_setting} is off)"
    if policy.networks and not any(addr in n for n in policy.networks):
        return f"{addr} is outside {policy.networks_setting}"
    return None


def host_refusal(host: str, policy: AddressPolicy) -> str | None:
    """Why a URL on ``host`` (a name or a literal address) is refused, or None.

    A name is judged here only against the metadata names; its addresses are judged
    when it is resolved to connect.
    """
    name = host.strip("[]").rstrip(".").lower()
    if name in METADATA_HOSTS and not policy.allow_link_local:
        hint = f" (set {policy.link_local_setting})" if policy.link_local_setting else ""
        return f"{host} is a cloud metadata service{hint}"
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return None
    return address_refusal(addr, policy)


def valid_host_name(name: str) -> bool:
    """A DNS name: dot-separated labels of letters, digits and inner hyphens (IDNA ok)."""
    try:
        ascii_name = name.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    labels = ascii_name.split(".")
    return 0 < len(ascii_name) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def webhook_url_refusal(url: str, settings: Settings) -> str | None:
    """Why a webhook URL is refused, or None: http(s) only, a valid host and port, no
    credentials in it, and the address policy of :func:`webhook_policy`."""
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when out of range or not a number
        host = parts.hostname
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "the scheme must be http or https"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed (the signature authenticates)"
    if not host:
        return "the URL has no host"
    if port == 0:
        return "port 0 is not a server's port"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "the URL contains whitespace or control characters"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not valid_host_name(host):
            return f"{host!r} is not a valid host name"
    return host_refusal(host, webhook_policy(settings))
