"""Diagnostics (R6.1, R6.2): the full state, and findings with concrete fixes.

:func:`collect` reads the state once; :func:`find_problems` is pure — it
turns that snapshot into findings, each ``{severity, problem, evidence,
recommendation}``, so every rule is tested with plain data too.
"""

from __future__ import annotations

import shlex
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from airtrack.db import Database, Row
from airtrack.orchestrator.stream_state import uptime
from airtrack.redact import mask_credentials
from airtrack.settings import Settings

from .alerts import alert_json, list_alerts
from .health import leader_fresh_s


@dataclass(frozen=True)
class Finding:
    severity: str
    problem: str
    evidence: str
    recommendation: str


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _dur(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


async def collect(
    db: Database,
    settings: Settings,
    *,
    recovery: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Workers, streams, assignments, epochs, outbox lag, leader, alerts, patterns, findings."""
    workers = await db.fetch("ops_diag_workers")
    streams = await db.fetch("ops_diag_streams")
    up = {u["stream"]: u for u in await uptime(db)}
    for s in streams:
        u = up.get(s["name"], {})
        s["uptime_24h"], s["uptime_7d"] = u.get("uptime_24h"), u.get("uptime_7d")
    control = {r["key"]: r for r in await db.fetch("ops_diag_control")}
    counts = await db.fetchone("ops_diag_counts")
    assert counts is not None
    alerts = await list_alerts(db)
    patterns = await db.fetch("ops_patterns_top", {"limit": settings.diagnose_top_patterns})
    held = await db.fetchone("ops_diag_events_held")
    if recovery is None:
        stored = control.get("recovery")
        value = stored["value"] if stored else {}
        recovery = {"on": bool(value.get("on")), "since": value.get("since")}
    snapshot = {
        "workers": workers,
        "streams": streams,
        "control": control,
        "counts": counts,
        "recovery": recovery,
        "events_held": held,
    }
    findings = find_problems(snapshot, settings, now=time.time())
    leader = control.get("leader")
    result: dict[str, Any] = _jsonable(
        {
            "generated_at": counts["now"],
            "leader": (
                {**leader["value"], "age_s": round(float(leader["age_s"]), 1)} if leader else None
            ),
            "recovery": recovery,
            "workers": [_worker_view(w) for w in workers],
            "streams": [_stream_view(s) for s in streams],
            "assignments": [
                {
                    "stream_id": s["id"],
                    "worker_id": s["worker_id"],
                    "next_worker_id": s["next_worker_id"],
                    "epoch": s["epoch"],
                    "state": s["assignment_state"],
                }
                for s in streams
            ],
            "epochs": {
                "max": counts["max_epoch"],
                "by_stream": {str(s["id"]): s["epoch"] for s in streams},
            },
            "outbox": {
                w["id"]: (w["meta"] or {}).get("metrics", {}).get("outbox_pending") for w in workers
            },
            "catalog": {"tracks": counts["tracks"]},
            "plays": {"total": counts["plays"], "last_hour": counts["plays_1h"]},
            "events": {
                "held": held["waiting"] if held else 0,
                "held_for_s": round(float(held["waiting_s"] or 0), 1) if held else 0.0,
            },
            "alerts": [alert_json(a) for a in alerts],
            "error_patterns": patterns,
            "findings": [asdict(f) for f in findings],
        }
    )
    return result


def _worker_view(w: Row) -> dict[str, Any]:
    meta = w["meta"] or {}
    return {
        "id": w["id"],
        "host": w["host"],
        "version": w["version"],
        "state": w["state"],
        "capacity": w["capacity"],
        "streams": w["streams"],
        "incarnation": w["incarnation"],
        "registered_at": w["registered_at"],
        "last_heartbeat": w["last_heartbeat"],
        "silent_s": None if w["silent_s"] is None else round(float(w["silent_s"]), 1),
        "metrics": meta.get("metrics", {}),
    }


def _stream_view(s: Row) -> dict[str, Any]:
    return {
        "id": s["id"],
        "name": s["name"],
        "url": mask_credentials(s["url"]),
        "enabled": s["enabled"],
        "capture_status": s["capture_status"],
        "last_error": s["last_error"] and mask_credentials(s["last_error"]),
        "error_since": s["error_since"],
        "worker_id": s["worker_id"],
        "epoch": s["epoch"],
        "assignment_state": s["assignment_state"],
        "health": s.get("health"),
        "url_in_use": s.get("url_in_use") and mask_credentials(s["url_in_use"]),
        "uptime_24h": s.get("uptime_24h"),
        "uptime_7d": s.get("uptime_7d"),
    }


def find_problems(snap: dict[str, Any], settings: Settings, *, now: float) -> list[Finding]:
    """Every rule below looks at the snapshot only; findings come most severe first."""
    out: list[Finding] = []
    workers: list[Row] = snap["workers"]
    streams: list[Row] = snap["streams"]
    control: dict[str, Row] = snap["control"]
    counts: Row = snap["counts"]
    recovery: dict[str, Any] = snap["recovery"]
    active = [w for w in workers if w["state"] == "active"]
    by_id = {w["id"]: w for w in workers}

    leader = control.get("leader")
    fresh = leader_fresh_s(settings)
    if leader is None or float(leader["age_s"]) > fresh:
        age = "never" if leader is None else f"{_dur(float(leader['age_s']))} ago"
        out.append(
            Finding(
                "critical",
                "no leader is running the control loop",
                f"last control tick: {age} (expected every {settings.control_tick_s:g} s)",
                "start an orchestrator (`airtrack orchestrator`), or check that it can reach "
                "the database: without a leader no stream moves",
            )
        )

    if recovery.get("on"):
        since = recovery.get("since")
        lasted = now - float(since) if since else 0.0
        long_on = lasted > settings.diagnose_recovery_long_s
        out.append(
            Finding(
                "critical" if long_on else "warning",
                f"recovery mode has been on for {_dur(lasted)}",
                str(recovery.get("reason") or "more failures per minute than allowed (R4.3)"),
                "check database latency and worker connectivity (`airtrack status`, the "
                "alerts and error patterns below); it ends by itself after "
                f"{_dur(settings.recovery_quiet_s)} without failures",
            )
        )

    if streams and not counts["tracks"]:
        out.append(
            Finding(
                "warning",
                "the catalog is empty",
                f"{len(streams)} streams are monitored but no song can be recognised",
                "add songs with `airtrack catalog add PATH`",
            )
        )

    enabled = [s for s in streams if s["enabled"]]
    if enabled and not active:
        out.append(
            Finding(
                "critical",
                "no active worker",
                f"{len(enabled)} enabled streams, {len(workers)} workers known, none active",
                "start workers (`airtrack worker`) on machines that can reach the stations",
            )
        )

    for w in workers:
        load = int(w["streams"])
        if load > int(w["capacity"]):
            over = load - int(w["capacity"])
            out.append(
                Finding(
                    "warning",
                    f"worker {w['id']} is over capacity by {over}",
                    f"{load} streams assigned, capacity {w['capacity']}",
                    f"lower its load (add workers) or raise its capacity "
                    f"(`airtrack worker --capacity {load}`)",
                )
            )
        if w["state"] in ("suspect", "inactive", "draining") and load:
            out.append(
                Finding(
                    "critical" if w["state"] == "inactive" else "warning",
                    f"worker {w['id']} is {w['state']} but still holds {load} streams",
                    f"last heartbeat {_dur(float(w['silent_s'] or 0))} ago",
                    "check that an orchestrator is leading (its control loop moves these "
                    "streams); if the worker is dead, stop it for good so they move",
                )
            )
        unsaved = ((w["meta"] or {}).get("metrics") or {}).get("outbox_unsaved")
        if unsaved and w["state"] == "active":
            out.append(
                Finding(
                    "critical",
                    f"worker {w['id']} cannot write its outbox: {int(unsaved)} plays, "
                    "titles or acknowledgements are held in memory only",
                    "reported in its last heartbeat; a crash of the worker now loses them",
                    "free space on (or remount read-write) the disk of the worker's "
                    "AIRTRACK_HOME; the worker writes them by itself once it can",
                )
            )
        pending = ((w["meta"] or {}).get("metrics") or {}).get("outbox_pending")
        if (
            pending is not None
            and float(pending) > settings.diagnose_outbox_backlog
            and w["state"] == "active"
        ):
            out.append(
                Finding(
                    "warning",
                    f"worker {w['id']} has {int(pending)} plays waiting in its outbox",
                    "reported in its last heartbeat",
                    "check the orchestrator's /metrics for slow POST /plays and the database "
                    "latency; the outbox drains by itself once writes succeed",
                )
            )

    if counts.get("refused"):
        out.append(
            Finding(
                "warning",
                f"{counts['refused']} refused plays or titles wait for review",
                "written with an epoch that did not own the stream (a stream that changed "
                "hands, a restored database); kept, not logged",
                "review them with `airtrack plays refused list`, then "
                "`airtrack plays refused accept ID…` or `airtrack plays refused discard ID…`",
            )
        )

    hosts: dict[str, list[str]] = defaultdict(list)
    for w in active:
        if w["host"]:
            hosts[w["host"]].append(w["id"])
    for host, ids in sorted(hosts.items()):
        if len(ids) > 1:
            out.append(
                Finding(
                    "info",
                    f"{len(ids)} workers share host {host}",
                    f"workers {', '.join(sorted(ids))}",
                    "one worker per machine with a larger --capacity uses it better and "
                    "survives a machine loss the same way; keep them only on purpose",
                )
            )

    unassigned = [s for s in enabled if s["assignment_state"] in (None, "unassigned")]
    room = sum(max(0, int(w["capacity"]) - int(w["streams"])) for w in active)
    if unassigned and active and room == 0:
        out.append(
            Finding(
                "critical",
                f"{len(unassigned)} streams are unassigned and no worker has room",
                f"capacity {sum(int(w['capacity']) for w in active)} across {len(active)} "
                f"active workers, all used; unassigned: "
                + ", ".join(s["name"] for s in unassigned[:10]),
                "add workers or raise their capacity (`airtrack worker --capacity N`)",
            )
        )

    revoke_limit = 2 * settings.lease_ttl_s * settings.recovery_lease_factor
    for s in streams:
        if s["assignment_state"] == "revoking" and float(s["state_for_s"] or 0) > revoke_limit:
            out.append(
                Finding(
                    "warning",
                    f"stream {s['name']} has been moving for {_dur(float(s['state_for_s']))}",
                    f"revoking from {s['worker_id']} to {s['next_worker_id'] or 'nobody'}, "
                    f"epoch {s['epoch']}",
                    f"check worker {s['worker_id']}: it should drop the stream on its next "
                    "heartbeat; a leader forces the handoff once its lease expires",
                )
            )
        owner = by_id.get(s["worker_id"]) if s["worker_id"] else None
        error_for = float(s["error_for_s"] or 0)
        if (
            s["enabled"]
            and (s["capture_status"] == "failed" or s["last_error"])
            and (s["capture_status"] == "failed" or error_for > settings.diagnose_stream_error_s)
        ):
            error = mask_credentials(s["last_error"] or "no error text reported")
            out.append(
                Finding(
                    "warning",
                    f"stream {s['name']} has failed for {_dur(error_for)} with {error!r}",
                    f"url {mask_credentials(s['url'])}, "
                    f"worker {owner['id'] if owner else '-'}, capture status {s['capture_status']}",
                    "check its URL (open it in a player), or stop monitoring it with "
                    f"`airtrack streams remove {shlex.quote(s['name'])}`",
                )
            )
        quiet_for = float(s.get("quiet_for_s") or 0)
        if (
            s["enabled"]
            and s["capture_status"] == "running"
            and s["worker_id"]
            and quiet_for > settings.diagnose_quiet_stream_s
        ):
            out.append(
                Finding(
                    "warning",
                    f"stream {s['name']} is running but has logged nothing for {_dur(quiet_for)}",
                    f"no play and no station title in {_dur(quiet_for)}; "
                    f"url {mask_credentials(s['url'])}, worker {s['worker_id']}",
                    "listen to it (open its URL in a player): noise, silence or the wrong "
                    "programme means a wrong URL, fix it with "
                    f"`airtrack streams edit {shlex.quote(s['name'])} --url URL`; a station "
                    "that airs no catalog songs for that long is fine (raise "
                    "AIRTRACK_DIAGNOSE_QUIET_STREAM_S)",
                )
            )

    held = _events_held(snap.get("events_held"), settings)
    if held is not None:
        out.append(held)

    rank = {"critical": 0, "warning": 1, "info": 2}
    out.sort(key=lambda f: rank.get(f.severity, 3))
    return out


def _events_held(held: Row | None, settings: Settings) -> Finding | None:
    """Events committed long ago and still held from webhooks and the event stream: they go
    out in commit order, so an open transaction that may still write one holds every event
    committed after it began (one in another database of the server does not)."""
    if not held or not held["waiting"]:
        return None
    waited = float(held["waiting_s"] or 0)
    if waited < settings.diagnose_events_held_s:
        return None
    n = int(held["waiting"])
    if held["pid"] is None:
        evidence = (
            "the transaction they wait behind is not visible to airtrack's database role "
            "(or has just ended)"
        )
        end_it = "end the oldest open transaction of airtrack's database (pg_stat_activity)"
    else:
        who = held["application_name"] or "no application name"
        where = held["client"] or "a local socket"
        evidence = (
            f"transaction of pid {held['pid']} ({who}, user {held['user_name']}, from "
            f"{where}), {held['state']}, open for {_dur(float(held['open_s'] or 0))}; its "
            f"last statement: {_one_line(held['query'])!r}"
        )
        end_it = (
            f"end that transaction (commit or roll it back in its session), or its session: "
            f"`psql -c 'SELECT pg_terminate_backend({held['pid']})'` as a superuser"
        )
    return Finding(
        "warning",
        f"{n} event{'' if n == 1 else 's'} held from webhooks and the event stream for "
        f"{_dur(waited)} by an open transaction",
        evidence,
        f"{end_it}; the held events are then delivered in order, none is lost",
    )


def _one_line(query: str | None) -> str:
    """A statement's text on one line (pg_stat_activity keeps its newlines)."""
    return " ".join((query or "").split())
