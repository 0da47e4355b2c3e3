"""Proof clips: ``airtrack plays clip PLAY_ID --output FILE`` and
``airtrack unknown clip ID --output FILE`` (the newest clip of a recurring unknown's
airings; cli/unknown.py attaches ``unknown_clip_command``).

On the store, or through the API when the remote variables are set (remote.py). The
clip is written as the worker encoded it (Ogg Opus, or MP3); ``--output -`` writes it to
standard output. No clip: a one-line message, exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from airtrack.errors import AirtrackError, OrchestratorRejected
from airtrack.protocol import API_PREFIX
from airtrack.protocol_admin import PLAY_CLIP_PATH, UNKNOWN_CLIP_PATH

from ._common import fail, handle_errors, run_async, settings_from, with_db
from .remote import AdminClient, is_remote

if TYPE_CHECKING:
    from airtrack.db import Database
    from airtrack.orchestrator.clips import Clip

Output = Annotated[
    Path,
    typer.Option("--output", "-o", help="Where to write the clip (.ogg or .mp3); '-' for stdout."),
]


def _fetch(kind: str, ident: int) -> tuple[bytes, str]:
    """(audio, media type) of the clip of a play or an unknown; exits 1 when none."""
    settings = settings_from()
    if is_remote():
        path = (PLAY_CLIP_PATH if kind == "play" else UNKNOWN_CLIP_PATH).removeprefix(API_PREFIX)
        with AdminClient.from_settings(settings) as api:
            try:
                r = api.request("GET", path.format(play_id=ident, unknown_id=ident))
            except OrchestratorRejected as exc:
                if exc.status == 404:
                    fail(f"no clip of {kind} {ident}")
                raise
            return r.content, r.headers.get("content-type", "audio/ogg").split(";")[0]

    from airtrack.orchestrator import clips

    async def go(db: Database) -> Clip | None:
        if kind == "play":
            return await clips.clip_of_play(db, ident)
        return await clips.clip_of_unknown(db, ident)

    clip = run_async(with_db(settings, go, create=False))
    if clip is None:
        fail(f"no clip of {kind} {ident}")
    return clip.data, clip.media_type


def _write(data: bytes, output: Path) -> None:
    if str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise AirtrackError(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"{output}: {len(data)} bytes", err=True)


plays_clip_app = typer.Typer(add_completion=False)


@plays_clip_app.command("clip")
@handle_errors
def play_clip(
    play_id: Annotated[int, typer.Argument(min=1, help="The play's id (`airtrack plays`).")],
    output: Output,
) -> None:
    """Write a play's proof clip: the first seconds of the airing, as the worker heard it."""
    data, _ = _fetch("play", play_id)
    _write(data, output)


@handle_errors
def unknown_clip_command(
    unknown_id: Annotated[int, typer.Argument(min=1, help="The unknown's id.")],
    output: Output,
) -> None:
    """Write the newest proof clip of a recurring unknown's airings."""
    data, _ = _fetch("unknown", unknown_id)
    _write(data, output)
