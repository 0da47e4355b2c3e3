"""``airtrack scan``/``identify`` lines that ``main`` runs without Typer's parser mean to
Typer exactly what ``direct_call`` reads from them."""

from __future__ import annotations

import functools
from typing import Any

import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from airtrack.cli import direct_call
from airtrack.cli.commands import app

_WORDS = ["a.mp3", "dir/", "x y.ogg", "ü.flac", "", "--json", "-", "--", "-v", "--help", "--utc"]


@functools.cache
def _group() -> Any:
    return typer.main.get_command(app)


def _typer_reads(argv: list[str]) -> tuple[str, list[str], bool]:
    group = _group()
    ctx = group.make_context("airtrack", list(argv))
    rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
    name, command, args = group.resolve_command(ctx, rest)
    assert name is not None and command is not None
    params = command.make_context(name, args, parent=ctx).params
    paths = params["recordings"] if name == "scan" else [params["clip"]]
    return name, list(paths), bool(params["json"])


@settings(deadline=None)  # Typer builds a pydantic adapter per parameter it parses
@given(st.sampled_from(["scan", "identify"]), st.lists(st.sampled_from(_WORDS), max_size=4))
def test_a_direct_line_means_the_same_to_typer(command: str, words: list[str]) -> None:
    argv = [command, *words]
    line = direct_call(argv)
    if line is not None:
        assert _typer_reads(argv) == line


def test_plain_lines_are_direct_and_the_rest_go_through_typer() -> None:
    assert direct_call(["scan", "a.mp3", "--json", "dir/"]) == ("scan", ["a.mp3", "dir/"], True)
    assert direct_call(["identify", "clip.mp3"]) == ("identify", ["clip.mp3"], False)
    for argv in (
        ["scan"],
        ["scan", "--help"],
        ["scan", "-v", "a.mp3"],
        ["identify", "a.mp3", "b.mp3"],
        ["-v", "scan", "a.mp3"],
        ["catalog", "list"],
        [],
    ):
        assert direct_call(argv) is None, argv
