"""``airtrack diagnose`` and the alerts part of ``airtrack status`` (read from the store)."""

from __future__ import annotations

import json as jsonlib
from datetime import datetime
from typing import Any

from rich.table import Table

from airtrack.db import Database
from airtrack.localtime import show_time
from airtrack.settings import Settings

from ._common import Display, out, print_table, run_async, with_db
from .remote import AdminClient, is_remote

_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def diagnose(settings: Settings, as_json: bool) -> int:
    """Print diagnostics; exit code 1 when there is a critical finding."""
    from airtrack.ops.diagnostics import collect

    async def go(db: Database) -> dict[str, Any]:
        return await collect(db, settings)

    report: dict[str, Any]
    if is_remote():
        with AdminClient.from_settings(settings) as api:
            report = api.get_json("/diagnostics")
    else:
        report = run_async(with_db(settings, go, create=False))
    critical = any(f["severity"] == "critical" for f in report["findings"])
    if as_json:
        print(jsonlib.dumps(report, indent=2, default=str))
        return 1 if critical else 0
    leader = report["leader"]
    out.print(
        f"leader: {leader['replica']} ({leader['age_s']} s ago)" if leader else "leader: none",
        markup=False,
    )
    rec = report["recovery"]
    out.print(f"recovery mode: {'ON' if rec.get('on') else 'off'}")
    workers, streams = report["workers"], report["streams"]
    owned = sum(1 for s in streams if s["assignment_state"] == "assigned")
    out.print(
        f"workers: {len(workers)} ({sum(w['state'] == 'active' for w in workers)} active); "
        f"streams: {len(streams)} ({owned} owned); catalog: {report['catalog']['tracks']} songs; "
        f"plays: {report['plays']['total']} ({report['plays']['last_hour']} in the last hour)"
    )  # epochs are fencing internals: in --json only
    findings = report["findings"]
    if not findings:
        out.print("[green]no problems found[/green]")
    for f in findings:
        style = _STYLE.get(f["severity"], "")
        out.print(f"[{style}]{f['severity'].upper()}[/{style}] ", end="")
        out.print(f["problem"], markup=False, highlight=False)
        out.print(f"    evidence: {f['evidence']}", markup=False, highlight=False)
        out.print(f"    fix:      {f['recommendation']}", markup=False, highlight=False)
    patterns = report["error_patterns"]
    if patterns:
        table = Table("count", "source", "signature", "last seen", title="top error patterns")
        for p in patterns:
            table.add_row(
                str(p["count"]),
                p["source"],
                p["signature"],
                show_time(p["last_seen"], utc=Display.utc),
            )
        print_table(table)
    return 1 if critical else 0


def alerts_section(settings: Settings) -> None:
    """Open alerts, appended to ``airtrack status``."""
    from airtrack.ops.alerts import list_alerts

    async def go(db: Database) -> list[dict[str, Any]]:
        return await list_alerts(db)

    if is_remote():
        with AdminClient.from_settings(settings) as api:
            alerts = [_parse_times(a) for a in api.get_json("/alerts")]
    else:
        alerts = run_async(with_db(settings, go))
    if not alerts:
        out.print("alerts: none open")
        return
    table = Table("severity", "kind", "subject", "message", "count", "last seen", title="alerts")
    for a in alerts:
        style = _STYLE.get(a["severity"], "")
        table.add_row(
            f"[{style}]{a['severity']}[/{style}]",
            a["kind"],
            a["subject"],
            a["message"],
            str(a["count"]),
            show_time(a["last_seen"], utc=Display.utc),
        )
    print_table(table)


def _parse_times(alert: dict[str, Any]) -> dict[str, Any]:
    for key in ("first_seen", "last_seen", "resolved_at"):
        if alert.get(key):
            alert[key] = datetime.fromisoformat(alert[key])
    return alert
