"""``airtrack webhooks`` against a real database (the commands run in this process)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.cli import invoke_cli


def _cli(db_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "AIRTRACK_DATABASE_URL": db_url,
        "AIRTRACK_WEBHOOK_ALLOW_PRIVATE": "true",
        "AIRTRACK_WEBHOOK_NETWORKS": "127.0.0.0/8",
    }
    return invoke_cli("webhooks", *args, home=home, env=env)


def test_add_shows_the_secret_once_then_list_and_remove(db_url: str, tmp_path: Path) -> None:
    added = _cli(db_url, tmp_path, "add", "http://127.0.0.1:9/hook", "--events", "stream.down")
    assert added.returncode == 0, added.stderr
    (secret_line,) = [ln for ln in added.stdout.splitlines() if ln.startswith("secret: ")]
    secret = secret_line.removeprefix("secret: ")
    assert secret.startswith("whsec_")
    listed = _cli(db_url, tmp_path, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert row["events"] == ["stream.down"] and row["streams"] == [] and row["queued"] == 0
    assert secret not in listed.stdout, "the secret is shown only by add"
    bad = _cli(db_url, tmp_path, "add", "http://127.0.0.1:9/hook", "--stream", "nope")
    assert bad.returncode == 1 and "no streams named" in bad.stderr
    down = _cli(db_url, tmp_path, "test", str(row["id"]))
    assert down.returncode == 1 and "did not take" in down.stderr
    assert _cli(db_url, tmp_path, "remove", str(row["id"])).returncode == 0
    gone = _cli(db_url, tmp_path, "remove", str(row["id"]))
    assert gone.returncode == 1 and "no webhook" in gone.stderr
