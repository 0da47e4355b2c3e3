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
    """All named queries: ``queries.sql`` plus one ``queries_<area>.sql`` per area."""
    folder = resources.files("airtrack.db")
    merged: dict[str, str] = {}
    files = sorted(e.name for e in folder.iterdir() if re.fullmatch(r"queries(_\w+)?\.sql", e.name))
    for name in files:
        for key, value in parse_queries(folder.joinpath(name).read_text("utf-8")).items():
            if key in merged:
                raise ValueError(f"query {key!r} is defined twice ({name})")
            merged[key] = value
    return merged


def sql(name: str) -> str:
    try:
        return queries()[name]
    except KeyError:
        raise KeyError(f"no query named {name!r} in queries.sql") from None
