"""Every tunable of airtrack, in one place: :class:`Settings`.

Values come from command-line flags (passed as keyword overrides), then
``AIRTRACK_*`` environment variables, then the defaults below. Each default
that a user requirement fixes names that requirement (R-numbers from
docs/requirements.md). Invalid values fail at start with one line that names
the setting (:func:`load_settings` raises :class:`airtrack.errors.ConfigError`).

The fields are grouped in three modules (:mod:`.service`, :mod:`.features`,
:mod:`.worker`); :class:`Settings` is all of them at once, with the checks that
relate fields of different groups.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from airtrack.errors import ConfigError
from airtrack.home import pg_dir

from .features import FeatureSettings
from .service import ServiceSettings
from .worker import LogLevel, WorkerSettings

__all__ = [
    "LogLevel",
    "Settings",
    "default_demo_home",
    "describe_settings",
    "load_settings",
    "settings_markdown",
]


def default_demo_home() -> Path:
    """Where ``airtrack demo`` keeps its state unless told otherwise: apart from a real home."""
    return Path(os.path.expanduser("~/.local/share/airtrack-demo"))


# Pydantic collects fields from the last base to the first: the service's come first.
class Settings(WorkerSettings, FeatureSettings, ServiceSettings):
    """airtrack settings; environment variable = ``AIRTRACK_`` + upper-case name."""

    model_config = SettingsConfigDict(
        env_prefix="AIRTRACK_",
        extra="ignore",
        validate_default=True,
        frozen=True,
    )

    @field_validator("orchestrator_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        # Any other scheme makes every request fail as "unreachable": a worker would run
        # in local mode for ever instead of saying its setting is wrong.
        parts = urlsplit(v.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, got {v!r}")
        return v.strip()

    @model_validator(mode="after")
    def _check_relations(self) -> Settings:
        if self.lease_ttl_s < 2 * self.heartbeat_interval_s:
            raise ValueError(
                f"lease_ttl_s ({self.lease_ttl_s}) must be at least two heartbeat intervals "
                f"(2 × heartbeat_interval_s = {2 * self.heartbeat_interval_s})"
            )
        if self.inactive_after_s < self.lease_ttl_s:
            raise ValueError(
                f"inactive_after_s ({self.inactive_after_s}) must not be shorter than "
                f"lease_ttl_s ({self.lease_ttl_s})"
            )
        if (
            self.worker_breaker_open_s is not None
            and self.worker_breaker_open_s > self.lease_ttl_s / 2
        ):
            raise ValueError(
                f"worker_breaker_open_s ({self.worker_breaker_open_s}) must be at most half of "
                f"lease_ttl_s ({self.lease_ttl_s}): a worker must be heard again within its "
                "lease once the orchestrator is back"
            )
        if self.worker_stop_flush_s >= self.worker_shutdown_timeout_s:
            raise ValueError(
                f"worker_stop_flush_s ({self.worker_stop_flush_s}) must be shorter than "
                f"worker_shutdown_timeout_s ({self.worker_shutdown_timeout_s})"
            )
        if self.control_tick_s > self.heartbeat_interval_s:
            raise ValueError(
                f"control_tick_s ({self.control_tick_s}) must not exceed "
                f"heartbeat_interval_s ({self.heartbeat_interval_s})"
            )
        if self.recovery_failures_per_worker > self.recovery_failures_per_min:
            raise ValueError(
                "recovery_failures_per_worker must not exceed recovery_failures_per_min"
            )
        if self.webhook_lease_s <= self.webhook_timeout_s:
            raise ValueError(
                f"webhook_lease_s ({self.webhook_lease_s}) must exceed webhook_timeout_s "
                f"({self.webhook_timeout_s}): a request's total deadline ends within the "
                "lease, so two replicas never deliver for one endpoint at once"
            )
        if self.events_retention_h < self.webhook_retry_hours:
            raise ValueError("events_retention_h must not be shorter than webhook_retry_hours")
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("db_pool_min must not exceed db_pool_max")
        if self.clip_buffer_s < 2 * self.clip_s:
            raise ValueError(
                f"clip_buffer_s ({self.clip_buffer_s}) must be at least twice clip_s "
                f"({self.clip_s}): a play is detected seconds after it starts"
            )
        return self

    @property
    def pg_dir(self) -> Path:
        return pg_dir(self.home)

    @property
    def worker_breaker_open(self) -> float:
        """How long the worker's breaker stays open: well inside a lease (see the setting)."""
        if self.worker_breaker_open_s is not None:
            return self.worker_breaker_open_s
        return min(self.breaker_open_s, self.lease_ttl_s / 4)

    @property
    def leader_grace_s(self) -> float:
        """How long a new leader expires no lease (LEADER_GRACE_LEASES × LEASE_TTL_S)."""
        return self.leader_grace_leases * self.lease_ttl_s

    @model_validator(mode="after")
    def _check_worker_policy(self) -> Settings:
        for base, cap in (
            ("worker_retry_base_s", "worker_retry_cap_s"),
            ("heartbeat_retry_base_s", "heartbeat_retry_cap_s"),
            ("stream_reconnect_base_s", "stream_reconnect_cap_s"),
        ):
            if getattr(self, base) > getattr(self, cap):
                raise ValueError(
                    f"{base} ({getattr(self, base)}) must not exceed {cap} ({getattr(self, cap)})"
                )
        return self


def load_settings(**overrides: Any) -> Settings:
    """Build settings from overrides (flags) > environment > defaults.

    Overrides whose value is ``None`` are ignored, so unset CLI flags fall
    through to the environment. Raises :class:`ConfigError` with one line
    naming the offending setting.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "settings"
        name = f"AIRTRACK_{loc.upper()}" if loc != "settings" else "settings"
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {name}: {msg}") from None


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every setting, for the docs."""
    rows = []
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = "~/.local/share/airtrack" if name == "home" else "(computed)"
        else:
            default = "unset" if field.default is None else str(field.default)
        rows.append((f"AIRTRACK_{name.upper()}", default, field.description or ""))
    return rows


def settings_markdown() -> str:
    """The settings table of docs/settings.md (generated, so the docs cannot drift)."""
    lines = [
        "# Settings",
        "",
        "Generated by `airtrack settings --markdown` from `airtrack/settings/`; a test keeps",
        "this file equal to that output. Flags beat environment variables, which beat defaults.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for env, default, desc in describe_settings():
        lines.append(f"| `{env}` | `{default}` | {desc} |")
    return "\n".join(lines) + "\n"
