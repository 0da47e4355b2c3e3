"""Station state and uptime, the stations part of ``airtrack status`` (read from the store)."""

from __future__ import annotations

from rich.table import Table

from airtrack.settings import Settings

from ._common import print_table, run_async, with_db
from .remote import is_remote


def uptime_section(settings: Settings) -> None:
    """Station state and uptime (24 h / 7 d), appended to ``airtrack status``."""
    from airtrack.orchestrator.stream_state import uptime

    if is_remote():  # no uptime route yet: the remote status shows each station's state only
        return
    rows = run_async(with_db(settings, uptime, create=False))
    if not rows:
        return
    table = Table("station", "state", "uptime 24 h", "uptime 7 d", title="stations")
    for r in rows:
        table.add_row(r["stream"], r["state"], _pct(r["uptime_24h"]), _pct(r["uptime_7d"]))
    print_table(table)


def _pct(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f} %"
