"""Rows and parameters as airtrack's queries see them, and how they reach the driver."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg.types.json import Jsonb

Row = dict[str, Any]
Params = Mapping[str, Any] | Sequence[Any] | None


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return Jsonb(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [Jsonb(v) for v in value]
    return value


def adapt(params: Params) -> Params:
    """Named parameters as the driver takes them: a dict (or a list of dicts) is JSON."""
    if isinstance(params, Mapping):
        return {k: _json(v) for k, v in params.items()}
    return params
