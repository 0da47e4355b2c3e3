"""The CLI speaks plainly (real ``airtrack`` subprocesses, a real database).

No log lines before the answer, an unreachable database named in one line (without its
password), URLs never cut at 80 columns, no internal epochs in user tables, and ``status``
says when no orchestrator is running.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.cli import run_cli
from tests.support.ports import refused_port

LONG_URL = "http://radio.example.com:8000/a/rather/long/mount/point/for/this/station.mp3"


def _cli(*args: str, env: dict[str, str], columns: int = 80) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env={"COLUMNS": str(columns), **env})


def test_unreachable_database_is_one_plain_line_naming_the_host(tmp_path: Path) -> None:
    with refused_port() as port:  # nothing listens there
        env = {
            "AIRTRACK_HOME": str(tmp_path / "home"),
            "AIRTRACK_DATABASE_URL": f"postgresql://airtrack:s3cret@127.0.0.1:{port}/radio",
        }
        r = _cli("streams", "list", env=env)
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert not any(ln.lstrip().startswith("{") for ln in lines), r.stderr
    assert len(lines) == 1, f"the one line, not the retries before it: {r.stderr}"
    assert f"127.0.0.1:{port}/radio" in lines[-1], r.stderr
    assert lines[-1].startswith("airtrack: ")
    assert "s3cret" not in r.stderr + r.stdout


def test_commands_print_no_log_lines(private_home: Path) -> None:
    """The embedded server starting is not the user's business: no embedded.ready line."""
    r = _cli("db", "url", env={"AIRTRACK_HOME": str(private_home)})
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.startswith("postgresql://")
    verbose = _cli("-v", "db", "url", env={"AIRTRACK_HOME": str(private_home)})
    assert "embedded.ready" in verbose.stderr


def test_streams_table_keeps_urls_whole_and_epochs_out(db_url: str, tmp_path: Path) -> None:
    env = {"AIRTRACK_HOME": str(tmp_path / "home"), "AIRTRACK_DATABASE_URL": db_url}
    assert _cli("streams", "add", LONG_URL, "--name", "Radio Long", env=env).returncode == 0
    r = _cli("streams", "list", env=env, columns=80)
    assert r.returncode == 0, r.stderr
    assert LONG_URL in r.stdout, r.stdout
    assert "epoch" not in r.stdout.lower()


def test_status_says_when_no_orchestrator_runs(db_url: str, tmp_path: Path) -> None:
    with refused_port() as port:
        env = {
            "AIRTRACK_HOME": str(tmp_path / "home"),
            "AIRTRACK_DATABASE_URL": db_url,
            "AIRTRACK_ORCHESTRATOR_URL": f"http://127.0.0.1:{port}",
        }
        r = _cli("status", env=env)
    assert r.returncode == 0, r.stderr
    assert "orchestrator: NOT RUNNING" in r.stdout, r.stdout
