"""Ctrl-C of ``airtrack catalog add``: a clean stop, a re-run that skips finished files,
and the failed files listed with their reasons at the end.

Ctrl-C on a terminal signals the whole process group (the CLI and its pool workers): the
test starts the CLI in a session of its own and signals that group, by its id.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import numpy as np
import psycopg
import pytest

from tests.integration.test_catalog_kill import _descendants, _running
from tests.integration.test_catalog_support import catalog_song, write
from tests.support.wait import until_async

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

N_SONGS = 14


def _env(db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRTRACK_")}
    env |= {"AIRTRACK_DATABASE_URL": db_url, "AIRTRACK_HOME": str(tmp_path / "home")}
    env["AIRTRACK_CATALOG_PROGRESS_LINE_S"] = "0.001"
    return env


async def _add(lib: Path, env: dict[str, str], *, interrupt: bool) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "airtrack", "catalog", "add", "--jobs", "2", str(lib),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        # an xdist worker ignores SIGINT, and children inherit that: give Ctrl-C back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    try:
        lines: list[str] = []
        pool = set()
        if interrupt:  # as soon as one file is stored, while the pool is busy on others
            # the store says so at once; the CLI's lines reach a pipe in their own time
            async def stored() -> bool:
                assert proc.returncode is None, "catalog add ended before adding anything"
                async with await psycopg.AsyncConnection.connect(
                    env["AIRTRACK_DATABASE_URL"]
                ) as conn:
                    cur = await conn.execute("SELECT count(*) FROM tracks")
                    row = await cur.fetchone()
                return bool(row and row[0])

            await until_async(stored, 120, "the first file stored", step=0.02)
            pool = _descendants(proc.pid)
            os.killpg(proc.pid, signal.SIGINT)
        out_b, err_b = await asyncio.wait_for(
            asyncio.gather(proc.stdout.read(), proc.stderr.read()), 300
        )
        await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    await asyncio.sleep(1.0)  # the forkserver and resource tracker see EOF and exit
    assert not [p for p in pool if _running(p)], "the pool ended with the CLI"
    return int(proc.returncode or 0), "".join(lines) + out_b.decode(), err_b.decode()


async def test_ctrl_c_stops_cleanly_and_a_rerun_skips_finished_files(
    db_url: str, tmp_path: Path
) -> None:
    lib = tmp_path / "lib"
    for i in range(N_SONGS):
        # four minutes each (a minute rendered, played four times): the pool must still be
        # busy when the first "added" line reaches the test, however fast the machine is
        write(lib / f"song{i:02d}.wav", np.tile(catalog_song(i, 60.0), 4))
    (lib / "broken.mp3").write_bytes(b"ID3" + os.urandom(4000))
    env = _env(db_url, tmp_path)

    rc, out, err = await _add(lib, env, interrupt=True)
    assert rc == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    first = len(re.findall(r"^added #", out, re.M))
    assert first >= 1 and "interrupted: " in out and f"of {N_SONGS + 1} files done" in out

    rc, out, err = await _add(lib, env, interrupt=False)
    assert rc == 1, err  # the broken file failed
    # what the first run stored is skipped, the rest added: each song exactly once. A song
    # stored as Ctrl-C arrived may not have had its line printed, so the rerun may skip
    # more than the first run said it added, never fewer.
    added = len(re.findall(r"^added #", out, re.M))
    skipped = len(re.findall(r"^skipped: .*duplicate of #", out, re.M))
    assert added + skipped == N_SONGS and skipped >= first, out
    summary = out[out.index(f"{added} added") :]
    assert "1 failed" in summary and "h of audio" in summary
    # the failures again at the very end, with the reason
    assert re.search(r"failed \(1\):\n  \S*broken\.mp3: \S", summary), summary
    assert f"catalog add: {N_SONGS + 1}/{N_SONGS + 1} files" in err and "ETA" in err
