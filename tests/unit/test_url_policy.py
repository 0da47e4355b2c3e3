"""The outbound URL policy shared by stream URLs and webhook URLs (docs/security.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airtrack.orchestrator.url_policy import webhook_url_refusal
from airtrack.settings import load_settings

CLOSED = load_settings(home=Path("/nonexistent"))
OPT_IN = load_settings(home=Path("/nonexistent"), webhook_allow_private=True)
LOOPBACK_ONLY = load_settings(
    home=Path("/nonexistent"), webhook_allow_private=True, webhook_networks="127.0.0.0/8,::1"
)

REFUSED_ALWAYS = [
    "http://[::1",  # malformed
    "http://127.0.0.1:99999/",  # port out of range
    "http://127.0.0.1:0/",
    "http://127.0.0.1:abc/",
    "ftp://127.0.0.1/",
    "javascript:alert(1)",
    "http:///path-only",
    "http://user:pass@127.0.0.1/",
    "http://user@example.com/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./",
    "http://[fd00:ec2::254]/",
    "http://0.0.0.0:8080/",
    "http://[::]:8080/",
    "http://224.0.0.1/",
    "http://bad_host!.example/",
    "http://exa mple.com/",
    "http://example.com/\nHost: evil",
]


@pytest.mark.parametrize("url", REFUSED_ALWAYS)
def test_refused_whatever_the_opt_in(url: str) -> None:
    for settings in (CLOSED, OPT_IN):
        assert webhook_url_refusal(url, settings) is not None, url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]:9000/metrics",
        "http://10.1.2.3/hook",
        "http://192.168.1.5:443/",
        "http://[fd12::1]/",
        "http://100.64.0.1/",  # shared address space (carrier NAT, VPNs)
    ],
)
def test_loopback_and_private_only_by_opt_in(url: str) -> None:
    assert webhook_url_refusal(url, CLOSED) is not None
    assert webhook_url_refusal(url, OPT_IN) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/airtrack",
        "http://93.184.216.34:8080/x",
        "https://bücher.example/",
    ],
)
def test_public_receivers_are_accepted(url: str) -> None:
    assert webhook_url_refusal(url, CLOSED) is None


def test_a_network_allow_list_refuses_everything_outside_it() -> None:
    assert webhook_url_refusal("http://127.0.0.1:1/x", LOOPBACK_ONLY) is None
    assert webhook_url_refusal("http://[::1]:1/x", LOOPBACK_ONLY) is None
    for url in ("http://10.0.0.1/", "http://93.184.216.34/", "http://169.254.169.254/"):
        assert webhook_url_refusal(url, LOOPBACK_ONLY) is not None, url


def test_a_bad_network_is_a_settings_error() -> None:
    with pytest.raises(Exception, match="not a network"):
        load_settings(home=Path("/nonexistent"), webhook_networks="127.0.0.0/8,nope")


def test_the_deadline_must_end_within_the_lease() -> None:
    with pytest.raises(Exception, match="webhook_lease_s"):
        load_settings(home=Path("/nonexistent"), webhook_timeout_s=30, webhook_lease_s=30)
