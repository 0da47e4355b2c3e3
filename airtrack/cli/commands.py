"""The ``airtrack`` command line as a Typer application (docs/architecture.md#contracts).

:func:`airtrack.cli.main` runs it, except for a plain ``scan``/``identify`` line."""

from __future__ import annotations

import importlib
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from typer.core import TyperGroup

from ._common import (
    Display,
    JsonFlag,
    handle_errors,
    is_tty,
    out,
    print_table,
    run_async,
    settings_from,
)
from .catalog_commands import catalog_app, identify, scan


class _LazyGroups(TyperGroup):
    """The ``airtrack`` group; the sub-groups named in ``LAZY`` are imported when used.

    Their modules load the database driver and the API models: a command that needs
    neither (``scan``, ``identify``) starts without them.  Each is registered under its
    name with an empty placeholder, so ``--help`` lists it in the same place.
    """

    LAZY: ClassVar[dict[str, tuple[str, str]]] = {
        "streams": ("airtrack.cli.streams_commands", "streams_app"),
        "webhooks": ("airtrack.cli.webhooks", "app"),
        "unknown": ("airtrack.cli.unknown", "app"),
    }

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        where = self.LAZY.get(cmd_name)
        if where is not None and getattr(self.commands.get(cmd_name), "lazy", False):
            real = typer.main.get_command(getattr(importlib.import_module(where[0]), where[1]))
            real.name = cmd_name
            # built on its own, a Typer gets the root's completion options: not a sub-group's
            real.params = [
                p for p in real.params if p.name not in ("install_completion", "show_completion")
            ]
            self.commands[cmd_name] = real
        return super().get_command(ctx, cmd_name)


def _placeholder(name: str) -> typer.Typer:
    sub = typer.Typer(name=name, cls=_Placeholder)
    sub.command()(lambda: None)
    return sub


class _Placeholder(TyperGroup):
    lazy = True


class _LazyPlays(_LazyGroups):
    """``airtrack plays``: the list itself; ``refused`` and ``clip`` loaded when used."""

    LAZY: ClassVar[dict[str, tuple[str, str]]] = {
        "refused": ("airtrack.cli.refused", "app"),
        "clip": ("airtrack.cli.clips", "plays_clip_app"),
    }


app = typer.Typer(
    name="airtrack",
    help="Broadcast monitoring: log every song that airs on your stations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=_LazyGroups,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens.", no_args_is_help=True)
report_app = typer.Typer(
    help="Reports: plays, summary, coverage, metadata-check, metadata-wishlist "
    "(CSV, JSON or XLSX); soundexchange and plays --template for monthly returns.",
    no_args_is_help=True,
)
app.add_typer(catalog_app, name="catalog")
app.add_typer(report_app, name="report")
app.add_typer(_placeholder("streams"), name="streams")
app.add_typer(db_app, name="db")
app.add_typer(tokens_app, name="tokens")
app.add_typer(_placeholder("webhooks"), name="webhooks")
app.add_typer(_placeholder("unknown"), name="unknown")
plays_app = typer.Typer(
    cls=_LazyPlays,
    help="Plays logged, newest first (`plays refused`: what the epoch fence refused; "
    "`plays clip ID -o FILE`: a play's proof clip).",
    invoke_without_command=True,
)
plays_app.add_typer(_placeholder("refused"), name="refused")
plays_app.add_typer(_placeholder("clip"), name="clip")
app.add_typer(plays_app, name="plays")
app.command()(identify)
app.command()(scan)


@app.callback()
def main_options(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="Show info logs (-vv: debug); default: warnings."
        ),
    ] = 0,
    utc: Annotated[
        bool, typer.Option("--utc", help="Show times in UTC (default: local time, with its zone).")
    ] = False,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Use the database even when AIRTRACK_ORCHESTRATOR_URL and "
            "AIRTRACK_ADMIN_TOKEN are set (admin commands are remote then); without "
            "AIRTRACK_DATABASE_URL only an embedded database that already exists in "
            "AIRTRACK_HOME, never a new one.",
        ),
    ] = False,
) -> None:
    """Broadcast monitoring: log every song that airs on your stations."""
    Display.verbose = verbose
    Display.utc = utc
    # remote.py loads the HTTP client and the API models: import it only when it matters
    if local or "airtrack.cli.remote" in sys.modules:
        from .remote import force_local

        force_local(local)


@app.command()
@handle_errors
def demo(
    music: Annotated[Path | None, typer.Option(help="Use your own music folder.")] = None,
    chaos: Annotated[bool, typer.Option(help="Kill and restart a worker on a timer.")] = False,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Worker processes.")] = 3,
    stations: Annotated[int, typer.Option(min=1, max=16, help="Demo stations.")] = 4,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(
            help="Where the demo keeps its state (default: AIRTRACK_HOME when set, "
            "else ~/.local/share/airtrack-demo, apart from a real installation)."
        ),
    ] = None,
) -> None:
    """Run the whole system on the embedded DB with demo stations and a dashboard."""
    import os

    from airtrack.demo.run import DemoOptions, run_demo
    from airtrack.settings import default_demo_home

    if home is None and not os.environ.get("AIRTRACK_HOME"):
        home = default_demo_home()
    # The live view is the demo's output; keep the demo process's own logs to warnings.
    settings = settings_from(
        home=home, log_level=None if os.environ.get("AIRTRACK_LOG_LEVEL") else "WARNING"
    )
    opts = DemoOptions(
        workers=workers,
        stations=stations,
        music=music,
        chaos=chaos,
        duration_s=duration,
        live=is_tty(),
    )
    raise typer.Exit(run_demo(settings, opts))


@app.command()
@handle_errors
def orchestrator(
    host: Annotated[
        str | None,
        typer.Option(
            help="Listen address (default: AIRTRACK_HOST, else 127.0.0.1).", show_default=False
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Listen port (default: AIRTRACK_PORT, else 8750).", show_default=False),
    ] = None,
) -> None:
    """Serve the orchestrator API (and run the control loop when leading)."""
    from airtrack.startup.orchestrator import serve

    settings = settings_from(service=True, host=host, port=port)
    raise typer.Exit(run_async(serve(settings)))


@app.command()
@handle_errors
def worker(
    orchestrator: Annotated[
        str | None,
        typer.Option(
            "--orchestrator",
            help="API URL (default: AIRTRACK_ORCHESTRATOR_URL, else http://127.0.0.1:8750).",
        ),
    ] = None,
    id: Annotated[
        str | None,
        typer.Option(
            "--id", help="Worker id (default: AIRTRACK_WORKER_ID, else derived from the host)."
        ),
    ] = None,
    capacity: Annotated[
        int | None,
        typer.Option(help="Streams this worker may run (default: AIRTRACK_CAPACITY, else 50)."),
    ] = None,
) -> None:
    """Capture, recognise and report the streams assigned to this machine."""
    from airtrack.worker.main import run_worker

    settings = settings_from(
        service=True, orchestrator_url=orchestrator, worker_id=id, capacity=capacity
    )
    raise typer.Exit(run_async(run_worker(settings)))


@plays_app.callback()
@handle_errors
def plays(
    ctx: typer.Context,
    stream: Annotated[str | None, typer.Option(help="Only this stream (name).")] = None,
    since: Annotated[str | None, typer.Option(help="ISO-8601 time (included).")] = None,
    until: Annotated[str | None, typer.Option(help="ISO-8601 time (excluded).")] = None,
    track: Annotated[int | None, typer.Option(help="Only this track id.")] = None,
    isrc: Annotated[str | None, typer.Option(help="Only tracks with this ISRC.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most plays shown.")] = 100,
    format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    json: JsonFlag = False,
    with_metadata: Annotated[
        bool,
        typer.Option(
            "--with-metadata", help="Also songs only the stations' titles named (not heard)."
        ),
    ] = False,
) -> None:
    """Plays logged, newest first (`plays refused`: what the epoch fence refused)."""
    if ctx.invoked_subcommand is not None:
        return
    from . import admin

    admin.plays_list(
        settings_from(),
        stream,
        since,
        "json" if json else format,
        limit=limit,
        until=until,
        track_id=track,
        isrc=isrc,
        with_metadata=with_metadata,
    )


#: The options every report shares: the zone its days are cut in, the stations it covers.
ReportZone = Annotated[
    str | None, typer.Option("--tz", help="IANA zone instead of each station's.")
]
ReportStations = Annotated[
    list[str] | None, typer.Option("--stream", help="Station name (repeatable).")
]


def _report(name: str) -> None:
    def command(
        start: Annotated[
            str | None,
            typer.Option("--from", help="First day (2026-03-01) or time; station-local."),
        ] = None,
        end: Annotated[
            str | None, typer.Option("--to", help="Last day (included) or time (excluded).")
        ] = None,
        tz: ReportZone = None,
        stream: ReportStations = None,
        format: Annotated[str, typer.Option("--format", help="csv, json or xlsx.")] = "csv",
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="File (default: stdout).")
        ] = None,
        template: Annotated[
            str | None,
            typer.Option(
                "--template",
                help="plays only: a TOML template file, or a shipped one (prs-radio, "
                "bmi-log); --format is then the template's.",
            ),
        ] = None,
        include_open: Annotated[
            bool,
            typer.Option(
                "--include-open",
                help="plays only: also airings still on air (empty end, in_progress true).",
            ),
        ] = False,
    ) -> None:
        from .report import run_report

        write: partial[None]
        if template is not None:
            from ._common import fail
            from .report_returns import run_template

            if name != "plays":
                fail("--template works with `report plays`")
            write = partial(run_template, settings_from(), template)
        else:
            write = partial(
                run_report, settings_from(), name, fmt=format, include_open=include_open
            )
        # the same window and stations whichever writes the report
        write(start=start, end=end, tz=tz, streams=stream or [], output=output)

    command.__doc__ = {
        "plays": "One row per play: local and UTC times, credits, identifiers.",
        "summary": "Plays and airtime per station and track, and per track overall.",
        "coverage": "Seconds monitored per station and day, and each gap with its cause.",
        "metadata-check": "Each airing: station titles against what was heard (confirmed, "
        "mismatch, fingerprint_only, metadata_only).",
        "metadata-wishlist": "Songs the stations named but airtrack never heard, by airings.",
    }[name]
    report_app.command(name)(handle_errors(command))


for _name in ("plays", "summary", "coverage", "metadata-check", "metadata-wishlist"):
    _report(_name)


@report_app.command("soundexchange")
@handle_errors
def report_soundexchange(
    start: Annotated[str | None, typer.Option("--from", help="First day (2026-03-01).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (included).")] = None,
    tz: ReportZone = None,
    stream: ReportStations = None,
    service_name: Annotated[
        str | None,
        typer.Option(
            "--service-name",
            help="NAME_OF_SERVICE, with call letters (default: the station's name; one --stream).",
        ),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option("--category", help="Transmission category: A, B, C, H, I, J, K or L."),
    ] = None,
    play_frequency: Annotated[
        bool, typer.Option("--play-frequency", help="Add the PLAY_FREQUENCY column.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File or folder (default: the conventional name)."),
    ] = None,
) -> None:
    """SoundExchange Report of Use: performances per recording, station and period."""
    from .report_returns import run_soundexchange

    run_soundexchange(
        settings_from(),
        start=start,
        end=end,
        tz=tz,
        streams=stream or [],
        service_name=service_name,
        category=category,
        play_frequency=play_frequency,
        output=output,
    )


@app.command()
@handle_errors
def status() -> None:
    """Workers, streams, alerts at a glance."""
    from . import admin

    admin.status(settings_from())


@app.command()
@handle_errors
def diagnose(json: JsonFlag = False) -> None:
    """Findings about inconsistencies, each with a recommended fix."""
    from . import ops

    raise typer.Exit(ops.diagnose(settings_from(), json))


@app.command("settings")
@handle_errors
def show_settings(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print docs/settings.md.")] = False,
) -> None:
    """Every setting with its environment variable, current value and meaning."""
    from rich.table import Column, Table

    from airtrack.settings import describe_settings, settings_markdown

    if markdown:
        print(settings_markdown(), end="")
        return
    current = settings_from().model_dump()
    described = describe_settings()
    table = Table("value", "meaning")
    # A variable's name is what a reader copies: never cut or wrapped, on any screen.
    longest = max(len(env) for env, _default, _desc in described)
    table.columns.insert(0, Column("variable", no_wrap=True, min_width=longest))
    for env, _default, desc in described:
        name = env.removeprefix("AIRTRACK_").lower()
        value = current.get(name)
        if name.endswith("token") and value:
            value = "(set)"
        table.add_row(env, "unset" if value is None else str(value), desc)
    if out.is_terminal:
        out.print(table)  # the meanings wrap to the window; names and values stay whole
    else:
        print_table(table)


@db_app.command("check")
def db_check(json: JsonFlag = False) -> None:
    """Check a (restored) database before starting; exit 1 on a problem.

    Schema version, table counts, the latest play per stream, refused plays waiting.
    """
    from .refused import db_check as check

    check(json)


@db_app.command("migrate")
@handle_errors
def db_migrate() -> None:
    """Apply pending schema migrations (the orchestrator also does this at start)."""
    from airtrack.db import connect, migrate
    from airtrack.db.migrations import latest_version

    from ._common import refuse_without_database

    settings = settings_from()
    refuse_without_database(settings)

    async def go() -> list[int]:
        db = await connect(settings, run_migrations=False)
        try:
            return await migrate(db)
        finally:
            await db.close()

    applied = run_async(go())
    if applied:
        listed = ", ".join(f"{v:04d}" for v in applied)
        out.print(
            f"applied {len(applied)} migration{'' if len(applied) == 1 else 's'}: {listed}; "
            f"schema now at version {latest_version()}",
            markup=False,
            highlight=False,
        )
    else:
        out.print(f"schema up to date (version {latest_version()})", markup=False, highlight=False)


@db_app.command("url")
@handle_errors
def db_url() -> None:
    """Print the database URL (starting the embedded server if needed)."""
    from airtrack.db import database_url

    from ._common import refuse_without_database

    settings = settings_from()
    refuse_without_database(settings)
    out.print(database_url(settings), markup=False, highlight=False, soft_wrap=True)


@tokens_app.command("new")
@handle_errors
def tokens_new() -> None:
    """Print two new strong, different tokens as environment lines (admin, worker)."""
    import secrets

    admin_token, worker_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    print(f"AIRTRACK_ADMIN_TOKEN={admin_token}")
    print(f"AIRTRACK_WORKER_TOKEN={worker_token}")
