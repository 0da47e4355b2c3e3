"""``airtrack unknown``: recurring audio nobody identified (list, show, label, dismiss).

The leader's discovery job groups airings of unmatched audio that recurs into unknowns
(docs/unknown.md). On the database, or through the API from a laptop (remote.py).
"""

from __future__ import annotations

import json as jsonlib
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from airtrack.db import Database
from airtrack.localtime import show_time
from airtrack.protocol import API_PREFIX
from airtrack.protocol_admin import (
    UNKNOWN_DISMISS_PATH,
    UNKNOWN_LABEL_PATH,
    UNKNOWN_PATH,
    UNKNOWNS_PATH,
)

from ._common import JsonFlag, fail, handle_errors, print_table, run_async, settings_from, with_db
from .clips import unknown_clip_command
from .remote import AdminClient, is_remote

app = typer.Typer(
    help="Recurring audio that matched nothing (jingles, ads, songs not in the catalog yet).",
    no_args_is_help=True,
)

_LIST, _ONE, _LABEL, _DISMISS = (
    p.removeprefix(API_PREFIX)
    for p in (UNKNOWNS_PATH, UNKNOWN_PATH, UNKNOWN_LABEL_PATH, UNKNOWN_DISMISS_PATH)
)


def _shown(iso: str) -> str:
    """An ISO 8601 time of the API's answers, as the CLI shows times."""
    return show_time(datetime.fromisoformat(iso))


def _when(text: str | None, flag: str) -> datetime | None:
    """ISO 8601 day or time; without a zone: this machine's."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text).astimezone()
    except ValueError:
        fail(f"{flag} must be an ISO 8601 day or time (2026-03-01, 2026-03-01T18:00), got {text!r}")


def _call(local: Any, remote: Any) -> Any:
    """``remote(api)`` through the API when remote, else ``local(db)`` on the database."""
    settings = settings_from()
    if is_remote():
        with AdminClient.from_settings(settings) as api:
            return remote(api)
    return run_async(with_db(settings, lambda db: local(db, settings), create=False))


@app.command("list")
@handle_errors
def list_(
    start: Annotated[str | None, typer.Option("--from", help="Last aired at or after.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="First aired before.")] = None,
    min_airings: Annotated[int, typer.Option(min=1, help="At least this many airings.")] = 2,
    json: JsonFlag = False,
) -> None:
    """Open unknowns, most airings first."""
    from airtrack.orchestrator.unknowns import list_unknowns

    since, until = _when(start, "--from"), _when(end, "--to")

    async def local(db: Database, _: Any) -> list[dict[str, Any]]:
        return await list_unknowns(db, since=since, until=until, min_airings=min_airings)

    rows = _call(
        local,
        lambda api: api.get_json(
            _LIST,
            {"from": since.isoformat() if since else None,
             "to": until.isoformat() if until else None, "min_airings": min_airings},
        ),
    )  # fmt: skip
    if json:
        print(jsonlib.dumps(rows, indent=2))
        return
    table = Table("id", "airings", "stations", "duration", "first", "last")
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["airings"]),
            ", ".join(r["stations"]),
            f"{r['duration_s']:.1f} s",
            _shown(r["first"]),
            _shown(r["last"]),
        )
    print_table(table)


@app.command("show")
@handle_errors
def show(
    unknown_id: Annotated[int, typer.Argument(help="The unknown's id (from list).")],
    json: JsonFlag = False,
) -> None:
    """One unknown and each of its airings (station, start, end)."""
    from airtrack.orchestrator.unknowns import show_unknown

    async def local(db: Database, _: Any) -> dict[str, Any]:
        return await show_unknown(db, unknown_id)

    found = _call(local, lambda api: api.get_json(_ONE.format(unknown_id=unknown_id)))
    if json:
        print(jsonlib.dumps(found, indent=2))
        return
    print(
        f"unknown #{found['id']} ({found['status']}): {found['airings']} airing(s) on "
        f"{', '.join(found['stations'])}, about {found['duration_s']:.1f} s"
        + (f", track #{found['track_id']}" if found.get("track_id") else "")
    )
    table = Table("stream", "start", "end")
    for a in found["airings"]:
        table.add_row(
            a["stream"],
            _shown(a["start"]),
            _shown(a["end"]),
        )
    print_table(table)


@app.command("label")
@handle_errors
def label(
    unknown_id: Annotated[int, typer.Argument(help="The unknown's id (from list).")],
    title: Annotated[str, typer.Option(help="The recording's title.")],
    artist: Annotated[str, typer.Option(help="Its artist (or the advertiser).")],
    isrc: Annotated[str | None, typer.Option(help="Its ISRC.")] = None,
    json: JsonFlag = False,
) -> None:
    """Make the unknown a catalog track from its archived prints; its airings become
    back-filled plays."""
    from airtrack.orchestrator.unknowns import label as do_label

    async def local(db: Database, settings: Any) -> dict[str, Any]:
        return await do_label(db, settings, unknown_id, title=title, artist=artist, isrc=isrc)

    body = {"title": title, "artist": artist, "isrc": isrc}
    done = _call(
        local, lambda api: api.send_json("POST", _LABEL.format(unknown_id=unknown_id), body)
    )
    if json:
        print(jsonlib.dumps(done, indent=2))
        return
    fill = done["backfill"]
    print(
        f"unknown #{unknown_id} is now track #{done['track_id']}; back-fill: "
        f"{fill['found']} airing(s) found, {fill['stored']} new play(s)"
    )


@app.command("dismiss")
@handle_errors
def dismiss(
    unknown_id: Annotated[int, typer.Argument(help="The unknown's id (from list).")],
) -> None:
    """Hide the unknown (its later airings stay hidden with it)."""
    from airtrack.orchestrator.unknowns import dismiss as do_dismiss

    async def local(db: Database, _: Any) -> dict[str, Any]:
        return await do_dismiss(db, unknown_id)

    done = _call(
        local, lambda api: api.send_json("POST", _DISMISS.format(unknown_id=unknown_id), {})
    )
    print(f"unknown #{unknown_id}: {done['status']}")


# ``airtrack unknown clip ID --output FILE``: the newest proof clip of an unknown's airings
app.command("clip")(unknown_clip_command)
