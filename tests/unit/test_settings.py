"""Settings: flags > environment > defaults; bad values fail with one line naming the setting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airtrack.errors import ConfigError
from airtrack.settings import Settings, describe_settings, load_settings
from tests.support.cli import invoke_cli


def test_defaults_match_architecture(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("AIRTRACK_"):
            monkeypatch.delenv(name)
    s = load_settings()
    assert (s.heartbeat_interval_s, s.lease_ttl_s, s.inactive_after_s) == (10, 30, 300)
    assert s.rebalance_threshold == 0.20
    assert (s.http_timeout_s, s.tx_max_s, s.db_lock_timeout_s) == (30, 30, 5)
    assert s.orchestrator_url == "http://127.0.0.1:8750"
    assert s.database_url is None and s.alert_webhook is None
    assert (s.breaker_failures, s.breaker_open_s, s.db_reconnect_attempts) == (5, 30, 3)
    assert str(s.home).endswith(".local/share/airtrack")


def test_env_then_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRTRACK_LEASE_TTL_S", "45")
    monkeypatch.setenv("AIRTRACK_HTTP_TIMEOUT_S", "12")
    s = load_settings(http_timeout_s=7, port=None)
    assert s.lease_ttl_s == 45, "environment beats default"
    assert s.http_timeout_s == 7, "flag beats environment"
    assert s.port == 8750, "an unset flag (None) falls through"


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [
        ("AIRTRACK_HTTP_TIMEOUT_S", "-1", "AIRTRACK_HTTP_TIMEOUT_S"),
        ("AIRTRACK_LEASE_TTL_S", "15", "two heartbeat intervals"),
        ("AIRTRACK_LOG_LEVEL", "LOUD", "AIRTRACK_LOG_LEVEL"),
        ("AIRTRACK_PORT", "99999", "AIRTRACK_PORT"),
        ("AIRTRACK_REBALANCE_THRESHOLD", "abc", "AIRTRACK_REBALANCE_THRESHOLD"),
        ("AIRTRACK_TX_MAX_S", "0", "AIRTRACK_TX_MAX_S"),
        ("AIRTRACK_ORCHESTRATOR_URL", "ftp://x", "AIRTRACK_ORCHESTRATOR_URL"),
        ("AIRTRACK_ORCHESTRATOR_URL", "127.0.0.1:8750", "http:// or https://"),
        ("AIRTRACK_ORCHESTRATOR_URL", "http://", "AIRTRACK_ORCHESTRATOR_URL"),
        ("AIRTRACK_WORKER_BREAKER_OPEN_S", "20", "at most half of lease_ttl_s"),
        ("AIRTRACK_LEADER_GRACE_LEASES", "0.5", "AIRTRACK_LEADER_GRACE_LEASES"),
        ("AIRTRACK_WORKER_STOP_FLUSH_S", "10", "worker_shutdown_timeout_s"),
    ],
)
def test_invalid_values_fail_with_one_line(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    msg = str(info.value)
    assert needle in msg
    assert "\n" not in msg


def test_cli_reports_bad_setting_in_one_line() -> None:
    proc = invoke_cli("status", env={"AIRTRACK_DB_LOCK_TIMEOUT_S": "-3"}, clean_env=False)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln]
    assert len(lines) == 1 and "AIRTRACK_DB_LOCK_TIMEOUT_S" in lines[0], proc.stderr


def test_worker_refuses_a_non_http_orchestrator_url(tmp_path: Path) -> None:
    """An ftp:// URL used to leave the worker in local mode for ever."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AIRTRACK_")}
    env |= {"AIRTRACK_HOME": str(tmp_path), "AIRTRACK_ORCHESTRATOR_URL": "ftp://x"}
    proc = subprocess.run(
        [sys.executable, "-m", "airtrack", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln]
    assert len(lines) == 1, proc.stderr
    assert "AIRTRACK_ORCHESTRATOR_URL" in lines[0] and "ftp://x" in lines[0]


def test_https_orchestrator_url_is_accepted() -> None:
    assert load_settings(orchestrator_url="https://orch.example:8750").orchestrator_url == (
        "https://orch.example:8750"
    )


def test_every_setting_is_documented() -> None:
    rows = describe_settings()
    assert len(rows) == len(Settings.model_fields)
    assert all(desc for _, _, desc in rows)


def test_read_commands_refuse_to_invent_an_empty_database(tmp_path: Path) -> None:
    for argv in (["plays", "--json"], ["streams", "list"], ["status"], ["diagnose"]):
        proc = invoke_cli(*argv, home=tmp_path / "nowhere")
        assert proc.returncode == 1, (argv, proc.stdout, proc.stderr)
        assert "no airtrack database here" in proc.stderr
    assert not (tmp_path / "nowhere" / "pg").exists()


def test_worker_breaker_opens_for_well_under_a_lease() -> None:
    """A worker must be heard again within its lease after an orchestrator outage: its
    breaker's open time defaults to BREAKER_OPEN_S capped at a quarter of the lease."""
    s = load_settings()
    assert s.worker_breaker_open == s.lease_ttl_s / 4 < s.breaker_open_s
    assert load_settings(breaker_open_s=2).worker_breaker_open == 2
    assert load_settings(worker_breaker_open_s=15).worker_breaker_open == 15
    assert s.leader_grace_s == s.lease_ttl_s


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"AIRTRACK_HOME": "/srv/air"},
        {"airtrack_home": "rel/home", "AIRTRACK_DATABASE_URL": "postgresql://u@h/db"},
        {"AIRTRACK_DATABASE_URL": ""},
    ],
)
def test_the_place_a_scan_reads_is_the_one_settings_read(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    """``airtrack.home`` (read by a scan on a current card, without pydantic) and
    ``Settings`` give the same state folder, database folder and database URL."""
    from airtrack.home import place_from_env

    for name in list(__import__("os").environ):
        if name.upper().startswith("AIRTRACK_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    place, settings = place_from_env(), load_settings()
    assert (place.home, place.pg_dir, place.database_url) == (
        settings.home,
        settings.pg_dir,
        settings.database_url,
    )
