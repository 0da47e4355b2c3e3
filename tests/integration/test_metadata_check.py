"""The metadata cross-check over the database: each airing gets its class."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airtrack.orchestrator.metadata_check import metadata_check, wish_list

from .orch_support import SimWorker, fast_settings, orchestrator, settle

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def _at(s: float) -> str:
    return (T0 + timedelta(seconds=s)).isoformat()


async def _post(w: SimWorker, path: str, key: str, items: list[dict[str, object]]) -> None:
    body = {"worker_id": w.id, key: items}
    r = await w.orch.worker_call("POST", f"/{path}", json=body, headers=w.auth)
    assert r.status_code == 200, r.text
    assert {x["status"] for x in r.json()["results"]} == {"stored"}


async def test_each_airing_is_classified(db_url: str, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path)
    async with orchestrator(db_url, settings) as orch:
        sid, quiet = await orch.add_streams(2, prefix="radio")
        a, b, c, d, e = [await orch.add_track(t) for t in ("Right", "Heard", "Jóga", "Ad", "Q")]
        w = SimWorker(orch, "w1", 5)
        await w.register()
        await settle(orch, [w])
        ep, quiet_ep = w.running[sid], w.running[quiet]

        def title(s: float, text: str | None, enc: str = "utf-8") -> dict[str, object]:
            return {
                "key": uuid.uuid4().hex,
                "stream_id": sid,
                "epoch": ep,
                "at": _at(s),
                "title": text,
                "encoding": enc,
            }

        def play(stream: int, epoch: int, track: int, s: float) -> dict[str, object]:
            return {
                "key": uuid.uuid4().hex,
                "stream_id": stream,
                "epoch": epoch,
                "track_id": track,
                "started_at": _at(s),
                "ended_at": _at(s + 170),
                "confidence": 0.9,
            }

        await _post(
            w,
            "metadata",
            "titles",
            [
                title(0, "Artist - Right (Radio Edit)"),
                title(180, "Somebody Else - Wrong Song"),
                title(360, "Artist - Jóga", "cp1252"),
                title(540, "Radio Demo FM"),
                title(720, "Unknown Band - Wish"),
                title(900, ""),
            ],
        )
        await _post(
            w,
            "plays",
            "plays",
            [
                play(sid, ep, a, 2),
                play(sid, ep, b, 182),
                play(sid, ep, c, 361),
                play(sid, ep, d, 545),
                play(quiet, quiet_ep, e, 10),  # a stream that sends no titles at all
            ],
        )
        rows = await metadata_check(orch.db, settings, start=T0, end=T0 + timedelta(hours=1))
        got = [(r.stream, r.kind, r.metadata_title, r.heard_title) for r in rows]
        assert got == [
            ("radio0", "confirmed", "Artist - Right (Radio Edit)", "Right"),
            ("radio0", "mismatch", "Somebody Else - Wrong Song", "Heard"),
            ("radio0", "confirmed", "Artist - Jóga", "Jóga"),
            ("radio0", "fingerprint_only", "Radio Demo FM", "Ad"),
            ("radio0", "metadata_only", "Unknown Band - Wish", None),
            ("radio1", "fingerprint_only", None, "Q"),
        ]
        assert [(w.metadata_title, w.airings) for w in wish_list(rows)] == [
            ("Unknown Band - Wish", 1)
        ]
        only = await metadata_check(
            orch.db, settings, start=T0, end=T0 + timedelta(hours=1), stream="radio1"
        )
        assert [r.kind for r in only] == ["fingerprint_only"]
