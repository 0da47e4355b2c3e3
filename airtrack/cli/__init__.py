"""The ``airtrack`` command (docs/architecture.md#contracts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import admin
from ._common import handle_errors, is_tty, out, run_async, settings_from
from .webhooks import app as webhooks_app

app = typer.Typer(
    name="airtrack",
    help="Broadcast monitoring: log every song that airs on your stations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
catalog_app = typer.Typer(help="Manage the catalog of songs to recognise.", no_args_is_help=True)
streams_app = typer.Typer(help="Manage the monitored streams.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(streams_app, name="streams")
app.add_typer(db_app, name="db")
app.add_typer(webhooks_app, name="webhooks")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


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
) -> None:
    """Run the whole system on the embedded DB with demo stations and a dashboard."""
    import os

    from airtrack.demo.run import DemoOptions, run_demo

    # The live view is the demo's output; keep the demo process's own logs to warnings.
    settings = settings_from(log_level=None if os.environ.get("AIRTRACK_LOG_LEVEL") else "WARNING")
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
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
) -> None:
    """Serve the orchestrator API (and run the control loop when leading)."""
    from airtrack.orchestrator.server import serve

    settings = settings_from(host=host, port=port)
    raise typer.Exit(run_async(serve(settings)))


@app.command()
@handle_errors
def worker(
    orchestrator: Annotated[str | None, typer.Option("--orchestrator", help="API URL.")] = None,
    id: Annotated[str | None, typer.Option("--id", help="Worker id.")] = None,
    capacity: Annotated[int | None, typer.Option(help="Streams this worker may run.")] = None,
) -> None:
    """Capture, recognise and report the streams assigned to this machine."""
    from airtrack.worker.main import run_worker

    settings = settings_from(orchestrator_url=orchestrator, worker_id=id, capacity=capacity)
    raise typer.Exit(run_async(run_worker(settings)))


@catalog_app.command("add")
@handle_errors
def catalog_add(
    paths: Annotated[list[str], typer.Argument(help="Files or folders.")],
    jobs: Annotated[int, typer.Option(min=0, help="Fingerprinting processes.")] = 2,
) -> None:
    """Add songs (files or folders, recursive); duplicates are skipped."""
    from . import catalog

    catalog.add(paths, jobs)


@catalog_app.command("list")
@handle_errors
def catalog_list(json: JsonFlag = False) -> None:
    """List catalog songs."""
    from . import catalog

    catalog.list_(json)


@catalog_app.command("remove")
@handle_errors
def catalog_remove(track_id: int) -> None:
    """Remove a song from the catalog."""
    from . import catalog

    catalog.remove(track_id)


@app.command()
@handle_errors
def identify(clip: str, json: JsonFlag = False) -> None:
    """Best catalog match for a clip, or "no match" (exit 1)."""
    from . import catalog

    catalog.identify(clip, json)


@app.command()
@handle_errors
def scan(recording: str, json: JsonFlag = False) -> None:
    """Plays found in a long recording."""
    from . import catalog

    catalog.scan(recording, json)


@streams_app.command("add")
@handle_errors
def streams_add(url: str, name: Annotated[str, typer.Option("--name")]) -> None:
    """Add a stream to monitor."""
    admin.streams_add(settings_from(), url, name)


@streams_app.command("list")
@handle_errors
def streams_list(json: JsonFlag = False) -> None:
    """List streams with their owner and state."""
    admin.streams_list(settings_from(), json)


@streams_app.command("remove")
@handle_errors
def streams_remove(name: str) -> None:
    """Stop monitoring a stream."""
    admin.streams_remove(settings_from(), name)


@app.command()
@handle_errors
def plays(
    stream: Annotated[str | None, typer.Option(help="Only this stream (name).")] = None,
    since: Annotated[str | None, typer.Option(help="ISO-8601 time.")] = None,
    json: JsonFlag = False,
) -> None:
    """Plays logged, newest first."""
    admin.plays_list(settings_from(), stream, since, json)


@app.command()
@handle_errors
def status() -> None:
    """Workers, streams, alerts at a glance."""
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
    from rich.table import Table

    from airtrack.settings import describe_settings, settings_markdown

    if markdown:
        print(settings_markdown(), end="")
        return
    current = settings_from().model_dump()
    table = Table("variable", "value", "meaning")
    for env, _default, desc in describe_settings():
        name = env.removeprefix("AIRTRACK_").lower()
        value = current.get(name)
        if name.endswith("token") and value:
            value = "(set)"
        table.add_row(env, "unset" if value is None else str(value), desc)
    out.print(table)


@db_app.command("migrate")
@handle_errors
def db_migrate() -> None:
    """Apply pending schema migrations (the orchestrator also does this at start)."""
    from airtrack.db import connect

    settings = settings_from()

    async def go() -> None:
        db = await connect(settings)
        await db.close()

    run_async(go())
    out.print("schema up to date")


@db_app.command("url")
@handle_errors
def db_url() -> None:
    """Print the database URL (starting the embedded server if needed)."""
    from airtrack.db import database_url

    out.print(database_url(settings_from()), markup=False, highlight=False, soft_wrap=True)


def main() -> None:
    app()
