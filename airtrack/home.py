"""Where airtrack keeps its state, read from the environment without the settings machinery.

A scan of an unchanged catalog needs two settings only: ``AIRTRACK_HOME`` (where the
snapshots, the scan card and the embedded database are) and ``AIRTRACK_DATABASE_URL`` (an
external database is always asked).  Loading every setting (pydantic, pydantic-settings)
costs more than scanning a short clip, so ``airtrack scan`` reads these two here and loads
:class:`airtrack.settings.Settings` only when it must ask the database.  ``Settings`` takes
its default home and its database folder from this module, and reads the same variables
the same way (names in any case, as pydantic-settings does): both give the same places.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Place", "default_home", "pg_dir", "place_from_env"]

_PREFIX = "AIRTRACK_"


def default_home() -> Path:
    """``AIRTRACK_HOME`` when unset: ``~/.local/share/airtrack``."""
    return Path(os.path.expanduser("~/.local/share/airtrack"))


def pg_dir(home: Path) -> Path:
    """The embedded PostgreSQL's data folder under ``home``."""
    return home / "pg"


@dataclass(frozen=True, slots=True)
class Place:
    """The state folder and the external database URL (``None``: the embedded one)."""

    home: Path
    database_url: str | None

    @property
    def pg_dir(self) -> Path:
        return pg_dir(self.home)


def _env(name: str) -> str | None:
    # pydantic-settings matches variable names in any case (case_sensitive=False)
    wanted = (_PREFIX + name).casefold()
    for key, value in os.environ.items():
        if key.casefold() == wanted:
            return value
    return None


def place_from_env() -> Place:
    """The :class:`Place` that ``Settings`` would read from the environment."""
    home = _env("home")
    return Place(default_home() if home is None else Path(home), _env("database_url"))
