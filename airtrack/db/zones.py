"""The time zones the database knows: a zone is accepted only if PostgreSQL can use it.

Python's ``zoneinfo`` reads the system's zone files and so accepts names PostgreSQL does
not (``localtime``, ``posix/Europe/Paris``, ``right/UTC``); a report in such a zone would
fail inside the database after its response had started. The list is read once per
:class:`Database` (about 600 names) and kept: zone files change with a server upgrade.
"""

from __future__ import annotations

import weakref

from .database import Database

__all__ = ["zone_names"]

_known: weakref.WeakKeyDictionary[Database, frozenset[str]] = weakref.WeakKeyDictionary()


async def zone_names(db: Database) -> frozenset[str]:
    """Every name in ``pg_timezone_names`` (exact spelling, as stored for a station)."""
    found = _known.get(db)
    if found is None:
        rows = await db.fetch("time_zone_names")
        found = frozenset(str(r["name"]) for r in rows)
        _known[db] = found
    return found
