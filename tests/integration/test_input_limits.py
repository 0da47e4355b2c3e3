"""Names and import files at the edge, over a real orchestrator app, PostgreSQL and the
real CLI: "." and "..", bidirectional overrides, thousands of extra.* columns."""

from __future__ import annotations

from pathlib import Path

from .orch_support import fast_settings, orchestrator
from .test_report_cli import _env, cli

BAD_NAMES = [".", "..", "invoice\u202egnp.exe", "a\u2066b\u2069", "\u202bx"]


async def test_dot_names_and_bidi_controls_are_refused_everywhere_a_name_enters(
    db_url: str, tmp_path: Path
) -> None:
    """Stream names "." and ".." (an HTTP client normalises them out of the path, so the
    stream could not be removed by name) and names with bidi overrides: 422 on add,
    rename and import."""
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        r = await orch.admin(
            "POST", "/streams", json={"name": "ok", "url": "http://127.0.0.1:9/ok"}
        )
        assert r.status_code == 201, r.text
        for i, name in enumerate(BAD_NAMES):
            r = await orch.admin(
                "POST", "/streams", json={"name": name, "url": f"http://127.0.0.1:9/{i}"}
            )
            assert r.status_code == 422, (name, r.text)
            r = await orch.admin("PATCH", "/streams/ok", json={"name": name})
            assert r.status_code == 422, (name, r.text)
            for filename, body in (
                ("s.csv", f"name,url\n{name},http://127.0.0.1:9/c{i}\n"),
                ("s.m3u", f"#EXTM3U\n#EXTINF:-1,{name}\nhttp://127.0.0.1:9/m{i}\n"),
                ("s.pls", f"[playlist]\nFile1=http://127.0.0.1:9/p{i}\nTitle1={name}\n"),
            ):
                r = await orch.admin(
                    "POST", "/streams/import", params={"filename": filename}, content=body
                )
                assert r.status_code == 422, (name, filename, r.text)
        names = [s["name"] for s in (await orch.admin("GET", "/streams")).json()]
        assert names == ["ok"]


async def test_extra_columns_are_bounded(db_url: str, tmp_path: Path) -> None:
    """3,000 extra.* columns were accepted: a station or track keeps at most 100 extra keys,
    whether they come in one file, through the API, or piled up over several imports."""
    async with orchestrator(db_url, fast_settings(tmp_path)) as orch:
        many = ",".join(f"extra.k{i}" for i in range(3000))
        cells = ",".join("v" for _ in range(3000))
        body = f"name,url,{many}\nwide,http://127.0.0.1:9/w,{cells}\n"
        r = await orch.admin("POST", "/streams/import", params={"filename": "s.csv"}, content=body)
        assert r.status_code == 422, r.text[:300]
        assert "3000 extra keys" in " ".join(r.json()["problems"])

        r = await orch.admin(
            "POST",
            "/streams",
            json={
                "name": "api",
                "url": "http://127.0.0.1:9/api",
                "extra": {f"k{i}": "v" for i in range(101)},
            },
        )
        assert r.status_code == 422, r.text[:300]
        # 60 keys, then 60 others: the second import would leave 120
        for start in (0, 60):
            cols = ",".join(f"extra.k{i}" for i in range(start, start + 60))
            vals = ",".join("v" for _ in range(60))
            r = await orch.admin(
                "POST",
                "/streams/import",
                params={"filename": "s.csv"},
                content=f"name,url,{cols}\npiled,http://127.0.0.1:9/piled,{vals}\n",
            )
            assert r.status_code == (200 if start == 0 else 422), r.text[:300]
        r = await orch.admin("PATCH", "/streams/piled", json={"extra": {"k200": "v"}})
        assert r.status_code == 200, r.text
        r = await orch.admin(
            "PATCH", "/streams/piled", json={"extra": {f"x{i}": "v" for i in range(40)}}
        )
        assert r.status_code == 422, r.text[:300]
        piled = [s for s in (await orch.admin("GET", "/streams")).json() if s["name"] == "piled"]
        assert len(piled[0]["extra"]) == 61

        track = await orch.add_track("Song")
        meta = f"track_id,{many}\n{track},{cells}\n"
        r = await orch.admin("POST", "/catalog/tracks/import-metadata", content=meta.encode())
        assert r.status_code == 422, r.text[:300]
        assert "3000 extra keys" in " ".join(r.json()["problems"])


def test_cli_refuses_dot_and_bidi_names_in_one_line(db_url: str, tmp_path: Path) -> None:
    env = _env(db_url, tmp_path)
    for i, name in enumerate(BAD_NAMES):
        r = cli(env, "streams", "add", f"http://127.0.0.1:9/{i}", "--name", name)
        assert r.returncode == 1, (name, r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    f = tmp_path / "s.m3u"
    f.write_text("#EXTM3U\n#EXTINF:-1,..\nhttp://127.0.0.1:9/m\n")
    r = cli(env, "streams", "import", str(f))
    assert r.returncode == 1 and "line 3" in r.stderr, r.stderr
    r = cli(env, "streams", "list", "--json")
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout
