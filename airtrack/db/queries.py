"""Named SQL: ``queries.sql`` split into ``-- name: x`` sections, loaded once."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def parse_queries(text: str) -> dict[str, str]:
    """Split SQL text into ``{name: sql}``; each section starts with ``-- name: NAME``."""
    parts = _NAME.split(text)
    out: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = "\n".join(
            line for line in body.strip().splitlines() if not line.lstrip().startswith("--")
        ).strip()
        if name in out:
            raise ValueError(f"query {name!r} is defined twice")
        out[name] = sql
    return out


@cache
def queries() -> dict[str, str]:
    text = resources.files("airtrack.db").joinpath("queries.sql").read_text("utf-8")
    return parse_queries(text)


def sql(name: str) -> str:
    try:
        return queries()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in queries.sql") from None
