"""The files an operator copies as they are: the environment files in docs/deployment.md
(read by systemd's ``EnvironmentFile``) and the ``make dist`` recipe."""

from __future__ import annotations

import re
from pathlib import Path

from airtrack.settings import describe_settings

ROOT = Path(__file__).resolve().parents[2]


def _env_files() -> dict[str, str]:
    """Each ``/etc/airtrack/*.env`` block of docs/deployment.md, by file name."""
    text = (ROOT / "docs" / "deployment.md").read_text()
    paragraph = r"`/etc/airtrack/(\w+\.env)`[^\n]*(?:\n(?!```)[^\n]+)*"
    found = re.findall(paragraph + r"\n\n```sh\n(AIRTRACK_.*?)```", text, re.S)
    return dict(found)


def test_env_templates_parse_as_systemd_reads_them() -> None:
    """systemd keeps a trailing ``# …`` as part of the value: comments on their own lines,
    every variable a real setting."""
    files = _env_files()
    assert set(files) == {"orchestrator.env", "worker.env"}
    known = {env for env, _default, _desc in describe_settings()}
    for name, body in files.items():
        values: dict[str, str] = {}
        for line in body.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, sep, value = line.partition("=")
            assert sep and key == key.strip(), f"{name}: not KEY=VALUE: {line!r}"
            assert "#" not in value, f"{name}: a comment after a value ends up in it: {line!r}"
            assert key in known, f"{name}: {key} is not a setting"
            values[key] = value
        if name == "orchestrator.env":
            # the CLI on the orchestrator's machine finds the API where it listens
            assert values["AIRTRACK_ORCHESTRATOR_URL"].endswith(":" + values["AIRTRACK_PORT"])


def test_make_dist_needs_only_the_build_backend() -> None:
    make = (ROOT / "Makefile").read_text()
    rule = re.search(r"^dist:(.*)\n((?:\t.*\n)+)", make, re.M)
    assert rule is not None
    prerequisites, recipe = rule.group(1).split(), rule.group(2)
    assert "install" not in prerequisites, "dist must not install the dev extras"
    assert "[dev]" not in recipe and "$(BIN)" not in recipe
    assert "pip wheel" in recipe and "--no-deps" in recipe
