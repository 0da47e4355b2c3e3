"""Pure cores of operations: the failure ledger (R4.2, R4.3) and error signatures (R4.4)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from airtrack.ops.ledger import FailureLedger, PeerAlert, PeerRecovered, RecoveryOff, RecoveryOn
from airtrack.ops.signatures import signature


@given(st.integers(min_value=1, max_value=40))
def test_one_alert_per_run_of_failures(n: int) -> None:
    ledger = FailureLedger(consecutive_limit=5, window_limit=10_000)
    decisions = [d for i in range(n) for d in ledger.failure("p", float(i))]
    alerts = [d for d in decisions if isinstance(d, PeerAlert)]
    assert len(alerts) == (1 if n > 5 else 0)
    assert ledger.success("p") == ([PeerRecovered("p", n)] if n > 5 else [])


@given(st.lists(st.floats(min_value=0, max_value=600), min_size=0, max_size=60))
def test_recovery_iff_more_than_limit_in_a_sliding_minute(times: list[float]) -> None:
    times = sorted(times)
    ledger = FailureLedger(window_limit=10, quiet_s=1e9)
    on_at = None
    for t in times:
        for d in ledger.failure(f"p{t}", t):
            if isinstance(d, RecoveryOn):
                on_at = t
    expected = next(
        (t for i, t in enumerate(times) if sum(1 for u in times[: i + 1] if u > t - 60) > 10),
        None,
    )
    assert on_at == expected


def test_recovery_ends_after_quiet() -> None:
    ledger = FailureLedger(window_limit=2, quiet_s=30)
    for t in (0.0, 1.0, 2.0):
        ledger.failure("x", t)
    assert ledger.recovery
    assert ledger.poll(31.0) == []
    off = ledger.poll(32.0)
    assert len(off) == 1 and isinstance(off[0], RecoveryOff) and not ledger.recovery


@given(
    st.integers(min_value=0, max_value=10**9),
    st.uuids(),
    st.ip_addresses(v=4),
    st.integers(min_value=1, max_value=65535),
)
def test_signature_ignores_numbers_ids_and_addresses(
    n: int, uid: object, ip: object, port: int
) -> None:
    msg = (
        f"worker {uid} lost after {n} tries: connect to {ip}:{port} refused; see http://{ip}/x?{n}"
    )
    assert signature(msg) == (
        "worker <uuid> lost after <n> tries: connect to <ip> refused; see <url>"
    )
    assert not any(ch.isdigit() for ch in signature(msg))


def test_signature_strips_quotes_and_hex() -> None:
    assert signature("key 'abc' exists at 0x7ffe12") == "key <str> exists at <hex>"
    assert signature("") == "<empty>"
