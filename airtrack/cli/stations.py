"""Station state and uptime, the stations part of ``airtrack status`` (read from the store)."""

from __future__ import annotations

from rich.table import Table

from airtrack.settings import Settings

from ._common import out, run_async, with_db


def uptime_section(settings: Settings) -> None:
    """Station state and uptime (24 h / 7 d), appended to ``airtrack status``."""
    from airtrack.orchestrator.stream_state import uptime

    rows = run_async(with_db(settings, uptime, create=False))
    if not rows:
        return
    table = Table("station", "state", "uptime 24 h", "uptime 7 d", title="stations")
    for r in rows:
        table.add_row(r["stream"], r["state"], _pct(r["uptime_24h"]), _pct(r["uptime_7d"]))
    out.print(table)


def _pct(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f} %"
