"""The real ``airtrack`` CLI: catalog add/list/remove, scan --json, identify (in this process),
and what a scan process loads (a subprocess).

Ground truth: catalog songs aired back to back with crossfades, a song that is not in the
catalog between them, and one catalog song aired twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from airtrack.demo.catalog import demo_catalog
from tests.integration.test_catalog_support import SR, catalog_song, crossfade, other, write
from tests.support.cli import invoke_cli
from tests.support.shared import shared_dir

SONG_S = 30.0
SCAN_KEYS = {"track_id", "title", "artist", "source", "start", "end", "confidence"}


@dataclass
class Cli:
    cwd: Path
    env: dict[str, str]
    #: this process (a command's logic), else a subprocess per command (what it loads)
    in_process: bool = False

    def __call__(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        if self.in_process:
            own = {k: v for k, v in self.env.items() if k.startswith("AIRTRACK_")}
            with contextlib.chdir(self.cwd):
                return invoke_cli(*args, env=own)
        return subprocess.run(
            [sys.executable, "-m", "airtrack", *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def json(self, *args: str) -> object:
        proc = self(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


@pytest.fixture
def cli(tmp_path: Path, db_url: str) -> Cli:
    """The commands' logic, run in this process (no interpreter start per command)."""
    env = dict(os.environ)
    env.update(
        AIRTRACK_DATABASE_URL=db_url,
        AIRTRACK_HOME=str(tmp_path / "home"),
        AIRTRACK_LOG_LEVEL="WARNING",
    )
    return Cli(tmp_path, env, in_process=True)


_ORDER = [0, None, 1, 2, 0]  # None: a song that is not in the catalog


def _write_station(folder: Path) -> None:
    """lib/ with three catalog songs, rec.mp3 airing them, a clip and an unknown song;
    the starts of the airings in starts.json."""
    specs = demo_catalog(3)
    for i, spec in enumerate(specs):
        write(folder / "lib" / f"{spec.artist} - {spec.title}.mp3", catalog_song(i, SONG_S))
    parts = [catalog_song(i, SONG_S) if i is not None else other(0, 20.0) for i in _ORDER]
    mix, starts = crossfade(parts, fade_s=2.5)
    rng = np.random.default_rng(7)
    mix = mix + rng.normal(0, 0.01, mix.shape).astype(np.float32)
    write(folder / "rec.mp3", mix)
    write(folder / "clip.mp3", catalog_song(2, SONG_S)[SR * 12 : SR * 20])
    write(folder / "unknown.mp3", other(0, 20.0)[SR * 5 : SR * 13])
    (folder / "starts.json").write_text(json.dumps([float(s) for s in starts]))


@pytest.fixture
def station(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[int, float]]:
    """The station's files (rendered once per run, copied here); returns (song, start) truth."""
    built = shared_dir(tmp_path_factory, "cli-scan-station", _write_station)
    shutil.copytree(built, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.json"))
    starts = json.loads((built / "starts.json").read_text())
    return [(i, s) for i, s in zip(_ORDER, starts, strict=True) if i is not None]


def snapshots(cli: Cli) -> dict[str, int]:
    folder = cli.cwd / "home" / "snapshots"
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_catalog_add_scan_identify_remove(cli: Cli, station: list[tuple[int, float]]) -> None:
    (cli.cwd / "bad.mp3").write_text("not audio")
    added = cli("catalog", "add", "lib/", "bad.mp3")
    assert added.returncode == 1, added.stderr
    assert "failed: bad.mp3: cannot open as audio" in added.stdout
    assert "3 added, 0 duplicates, 1 failed" in added.stdout

    tracks = cli.json("catalog", "list")
    assert isinstance(tracks, list) and len(tracks) == 3
    specs = demo_catalog(3)
    source_of = {i: f"lib/{s.artist} - {s.title}.mp3" for i, s in enumerate(specs)}
    id_of = {i: next(t["id"] for t in tracks if t["source"] == source_of[i]) for i in range(3)}

    plays = cli.json("scan", "rec.mp3")
    assert isinstance(plays, list)
    assert all(set(p) == SCAN_KEYS for p in plays)
    assert [p["start"] for p in plays] == sorted(p["start"] for p in plays)
    # one object per airing, the right songs in the right order, starts within 2 s
    assert [p["track_id"] for p in plays] == [id_of[i] for i, _ in station], plays
    for play, (i, start) in zip(plays, station, strict=True):
        assert play["source"] == source_of[i]
        assert (play["artist"], play["title"]) == (specs[i].artist, specs[i].title)
        assert abs(play["start"] - start) <= 2.0, (play, start)
        assert play["end"] - play["start"] >= SONG_S - 5.0
        assert 0.5 <= play["confidence"] <= 1.0

    # the snapshot is cached: a second scan reuses the same file and gives the same answer
    cached = snapshots(cli)
    assert len(cached) == 1
    assert cli.json("scan", "rec.mp3") == plays
    assert snapshots(cli) == cached

    hit = cli("identify", "clip.mp3", "--json")
    assert hit.returncode == 0, hit.stderr
    found = json.loads(hit.stdout)
    assert found["track_id"] == id_of[2] and abs(found["offset"] - 12.0) <= 1.0
    miss = cli("identify", "unknown.mp3")
    assert miss.returncode == 1 and miss.stdout.strip() == "no match"

    removed = cli("catalog", "remove", str(id_of[1]))
    assert removed.returncode == 0 and source_of[1] in removed.stdout
    table = cli("scan", "rec.mp3")  # without --json: a table
    assert table.returncode == 0, table.stderr
    assert specs[0].title in table.stdout and specs[2].title in table.stdout
    assert specs[1].title not in table.stdout
    assert set(snapshots(cli)) != set(cached)  # a new revision, a new snapshot


def test_scan_of_a_bad_file_is_one_line(cli: Cli) -> None:
    (cli.cwd / "noise.mp3").write_text("nothing here")
    proc = cli("scan", "noise.mp3", "--json")
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = [ln for ln in proc.stderr.splitlines() if "noise.mp3" in ln]
    assert lines == [
        "airtrack: noise.mp3: cannot open as audio (Invalid data found when processing input)"
    ]
    missing = cli("identify", "missing.mp3")
    assert missing.returncode == 1 and "missing.mp3: no such file" in missing.stderr


def test_scan_of_a_truncated_recording_reports_the_readable_part_and_warns(cli: Cli) -> None:
    """Catalog add refused a truncated file while scan said nothing about it."""
    specs = demo_catalog(2)
    for i, spec in enumerate(specs):
        write(cli.cwd / "lib" / f"{spec.artist} - {spec.title}.mp3", catalog_song(i, SONG_S))
    assert cli("catalog", "add", "lib/").returncode == 0
    full = write(
        cli.cwd / "full.mp3", np.concatenate([catalog_song(0, SONG_S), catalog_song(1, SONG_S)])
    )
    data = full.read_bytes()
    (cli.cwd / "cut.mp3").write_bytes(data[: len(data) // 3])  # ~20 s of the 60 s announced

    proc = cli("scan", "cut.mp3", "--json")
    assert proc.returncode == 0, proc.stderr
    plays = json.loads(proc.stdout)
    assert [p["title"] for p in plays] == [specs[0].title]  # the readable part is scanned
    warnings = [ln for ln in proc.stderr.splitlines() if "warning" in ln]
    assert len(warnings) == 1, proc.stderr
    assert warnings[0].startswith("airtrack: warning: cut.mp3: truncated or damaged: only ")
    assert "of the 60.0 s its header announces could be read" in warnings[0]

    whole = cli("scan", "full.mp3", "--json")
    assert whole.returncode == 0 and "warning" not in whole.stderr, whole.stderr


def test_scan_of_many_files_and_folders_in_one_process(
    cli: Cli, station: list[tuple[int, float]]
) -> None:
    """An archive in one command: per-file results, a bad file reported, the rest scanned."""
    assert cli("catalog", "add", "lib/").returncode == 0
    day = cli.cwd / "archive" / "day1"
    day.mkdir(parents=True)
    shutil.copy(cli.cwd / "rec.mp3", day / "rec.mp3")
    shutil.copy(cli.cwd / "unknown.mp3", day / "unknown.mp3")
    (cli.cwd / "archive" / "notes.txt").write_text("not audio")  # not an audio type: skipped
    (cli.cwd / "archive" / "broken.mp3").write_text("not audio")
    alone = cli.json("scan", "rec.mp3")
    clip = cli.json("scan", "clip.mp3")
    assert isinstance(alone, list) and len(alone) == len(station)

    proc = cli("scan", "clip.mp3", "archive", "--json")
    assert proc.returncode == 1, proc.stderr  # one file failed
    results = json.loads(proc.stdout)
    assert [r["file"] for r in results] == [
        "clip.mp3",
        "archive/broken.mp3",
        "archive/day1/rec.mp3",
        "archive/day1/unknown.mp3",
    ]
    by_file = {r["file"]: r for r in results}
    assert by_file["clip.mp3"]["plays"] == clip and by_file["clip.mp3"]["error"] is None
    assert by_file["archive/day1/rec.mp3"]["plays"] == alone  # as when scanned alone
    assert by_file["archive/day1/unknown.mp3"]["plays"] == []
    assert by_file["archive/broken.mp3"]["plays"] == []
    assert by_file["archive/broken.mp3"]["error"].startswith("cannot open as audio")
    assert "airtrack: archive/broken.mp3: cannot open as audio" in proc.stderr

    text = cli("scan", "rec.mp3", "unknown.mp3")
    assert text.returncode == 0, text.stderr
    assert text.stdout.index("rec.mp3:") < text.stdout.index("unknown.mp3:")
    tail = text.stdout[text.stdout.index("unknown.mp3:") :]
    assert "no catalog songs found" in tail
    assert demo_catalog(3)[2].title in text.stdout[: text.stdout.index("unknown.mp3:")]


@pytest.fixture
def embedded_cli(private_home: Path, tmp_path: Path) -> Iterator[Cli]:
    """The CLI on its own embedded database (the server stops with its last command)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env.update(AIRTRACK_HOME=str(private_home), AIRTRACK_LOG_LEVEL="WARNING")
    yield Cli(tmp_path, env)
    if (private_home / "pg" / "postmaster.pid").exists():
        from airtrack.db.embedded import stop_server

        stop_server(private_home)


def test_scan_with_a_current_card_touches_no_database(
    embedded_cli: Cli, station: list[tuple[int, float]]
) -> None:
    """A scan or identify of an unchanged catalog starts no database; a catalog or
    metadata change is seen by the next one."""
    cli = embedded_cli
    specs = demo_catalog(3)
    later = cli.cwd / "later"
    later.mkdir()
    third = f"{specs[2].artist} - {specs[2].title}.mp3"
    shutil.move(cli.cwd / "lib" / third, later / third)
    assert cli("catalog", "add", "lib/").returncode == 0
    first = cli.json("scan", "rec.mp3")
    assert isinstance(first, list)
    assert [p["title"] for p in first] == [specs[0].title, specs[1].title, specs[0].title]

    # a scan that would touch the database fails: the driver and the server cannot load
    poison = cli.cwd / "poison"
    for name in ("psycopg", "pgserver"):
        (poison / name).mkdir(parents=True)
        (poison / name / "__init__.py").write_text("raise ImportError('database touched')")
    paths = [str(poison), *filter(None, [cli.env.get("PYTHONPATH")])]
    offline = Cli(cli.cwd, {**cli.env, "PYTHONPATH": os.pathsep.join(paths)})
    assert offline.json("scan", "rec.mp3") == first
    hit = offline("identify", "unknown.mp3")
    assert hit.returncode == 1 and hit.stdout.strip() == "no match"  # answered, no database

    # nor the settings (pydantic), the logging set-up (structlog) or Typer's parameter
    # coercion (pydantic): a plain scan line starts with what the scan itself needs
    light_poison = cli.cwd / "poison-settings"
    for name in ("pydantic", "pydantic_settings", "structlog"):
        (light_poison / name).mkdir(parents=True)
        (light_poison / name / "__init__.py").write_text("raise ImportError('settings loaded')")
    light = Cli(
        cli.cwd, {**offline.env, "PYTHONPATH": os.pathsep.join([str(light_poison), *paths])}
    )
    assert light.json("scan", "rec.mp3") == first
    hit = light("identify", "unknown.mp3")
    assert hit.returncode == 1 and hit.stdout.strip() == "no match", hit.stderr

    # nor, answering in JSON into a pipe, the command-line toolkit (Typer, Click) or rich:
    # they take about as long to import as numpy
    ui_poison = cli.cwd / "poison-ui"
    for name in ("typer", "click", "rich"):
        (ui_poison / name).mkdir(parents=True)
        (ui_poison / name / "__init__.py").write_text("raise ImportError('ui loaded')")
    bare_path = os.pathsep.join([str(ui_poison), str(light_poison), *paths])
    bare = Cli(cli.cwd, {**light.env, "PYTHONPATH": bare_path})
    assert bare.json("scan", "rec.mp3") == first
    hit = bare("identify", "unknown.mp3", "--json")
    assert hit.returncode == 1 and hit.stdout.strip() == "null", hit.stderr

    assert cli("catalog", "add", "later/").returncode == 0  # the catalog changes
    stale = offline("scan", "rec.mp3", "--json")
    assert stale.returncode != 0 and "database touched" in stale.stderr
    grown = cli.json("scan", "rec.mp3")
    assert isinstance(grown, list)
    order = (specs[0], specs[1], specs[2], specs[0])
    assert [p["title"] for p in grown] == [s.title for s in order]
    assert offline.json("scan", "rec.mp3") == grown
    clip = offline.json("identify", "clip.mp3")  # the third song, added since: known now
    assert isinstance(clip, dict) and clip["title"] == specs[2].title, clip

    edited = cli("catalog", "edit", str(grown[1]["track_id"]), "--title", "Renamed")
    assert edited.returncode == 0, edited.stderr  # metadata only: the revision may not move
    assert offline("scan", "rec.mp3", "--json").returncode != 0
    renamed = cli.json("scan", "rec.mp3")
    assert isinstance(renamed, list) and renamed[1]["title"] == "Renamed"
    assert offline.json("scan", "rec.mp3") == renamed
