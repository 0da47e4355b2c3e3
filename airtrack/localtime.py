"""How airtrack shows a time to a person: in a named zone, local by default.

The database and the API keep UTC (ISO-8601 with an offset); the CLI and the demo show
local time with its zone abbreviation (``TZ`` decides, as for ``date``), or UTC when asked
(``--utc``). A time always carries its zone, so a pasted table is never ambiguous.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["show_time"]


def show_time(value: datetime | str | None, *, utc: bool = False, date: bool = True) -> str:
    """``2026-11-30 01:46:47 CET`` (or ``… UTC``); ``""`` for no value.

    A naive datetime is taken as UTC (what the database and the API mean by it).
    """
    if value is None or value == "":
        return ""
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC) if utc else dt.astimezone()
    zone = "UTC" if utc else (dt.tzname() or dt.strftime("%z"))
    return dt.strftime("%Y-%m-%d %H:%M:%S " if date else "%H:%M:%S ") + zone
