"""Stream health and uptime, the streams part of ``airtrack status`` (from the store, or
from the API when the CLI is remote)."""

from __future__ import annotations

from rich.table import Table

from airtrack.protocol import API_PREFIX
from airtrack.protocol_admin import STREAMS_UPTIME_PATH, StreamUptime
from airtrack.settings import Settings

from ._common import print_table, run_async, with_db
from .remote import AdminClient, is_remote


def uptime_section(settings: Settings) -> None:
    """Stream health and uptime (24 h / 7 d), appended to ``airtrack status``."""
    from airtrack.orchestrator.stream_state import uptime

    if is_remote():
        with AdminClient.from_settings(settings) as api:
            body = api.get_json(STREAMS_UPTIME_PATH.removeprefix(API_PREFIX))
        rows = [StreamUptime.model_validate(r).model_dump() for r in body]
    else:
        rows = run_async(with_db(settings, uptime, create=False))
    if not rows:
        return
    table = Table("stream", "health", "uptime 24 h", "uptime 7 d", title="streams")
    for r in rows:
        table.add_row(r["stream"], r["health"], _pct(r["uptime_24h"]), _pct(r["uptime_7d"]))
    print_table(table)


def _pct(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.1f} %"
