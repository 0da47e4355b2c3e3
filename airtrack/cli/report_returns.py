"""Monthly returns: ``airtrack report soundexchange`` and ``report plays --template``.

The SoundExchange file is written under its conventional name (in the current folder,
or in ``--output`` when that is a folder) unless ``--output`` names a file; the
recordings SoundExchange cannot identify (no ISRC, no album + label) are listed on
stderr. Both go to a temporary file renamed into place when complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airtrack.db import Database
from airtrack.reports import parse_request
from airtrack.reports.request import ReportRequest
from airtrack.reports.soundexchange import (
    UNIDENTIFIED_COUNT_HEADER,
    UNIDENTIFIED_HEADER,
    SoundExchangeFile,
    soundexchange,
)
from airtrack.reports.templates import Template, load_template, render_template
from airtrack.settings import Settings

from ._common import err, run_async, with_db
from .remote import AdminClient, is_remote
from .report import Sink, api_params


def _say(text: str) -> None:
    err.print(text, markup=False, highlight=False, soft_wrap=True)


def _remote_soundexchange(
    settings: Settings, req: ReportRequest, params: dict[str, Any]
) -> SoundExchangeFile:
    query = {k: v for k, v in {**api_params(req), **params}.items() if v not in (None, [])}
    query.pop("format", None)
    with AdminClient.from_settings(settings) as client:
        r = client.request("GET", "/reports/soundexchange", params=query)
    name = r.headers.get("content-disposition", "").partition('filename="')[2].rstrip('"')
    listed = json.loads(r.headers.get(UNIDENTIFIED_HEADER, "[]"))
    total = int(r.headers.get(UNIDENTIFIED_COUNT_HEADER, len(listed)))
    if total > len(listed):
        listed.append(f"... and {total - len(listed)} more (run it on the orchestrator)")
    return SoundExchangeFile(name or "soundexchange.txt", r.content, -1, listed)


def run_soundexchange(
    settings: Settings,
    *,
    start: str | None,
    end: str | None,
    tz: str | None,
    streams: list[str],
    service_name: str | None,
    category: str | None,
    play_frequency: bool,
    output: Path | None,
) -> Path:
    """Write the Report of Use; returns where it went."""
    req = parse_request("plays", start=start, end=end, tz=tz, streams=streams)
    options = {"service_name": service_name, "category": category}
    if is_remote():
        params = {**options, "play_frequency": play_frequency or None}
        done = _remote_soundexchange(settings, req, params)
    else:

        async def go(db: Database) -> SoundExchangeFile:
            return await soundexchange(db, settings, req, play_frequency=play_frequency, **options)

        done = run_async(with_db(settings, go, create=False))
    if output is None:
        target = Path(done.name)
    elif output.is_dir():
        target = output / done.name
    else:
        target = output
    sink = Sink(target)
    try:
        sink.write(done.body)
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    for line in done.unidentified:
        _say(f"no ISRC and no album + label: {line}")
    if done.unidentified:
        _say(
            f"{len(done.unidentified)} recording(s) SoundExchange cannot identify: add their "
            "ISRC (or album and label) with `airtrack catalog edit` and run the report again"
        )
    _say(f"wrote {target}")
    return target


def run_template(
    settings: Settings,
    template_ref: str,
    *,
    start: str | None,
    end: str | None,
    tz: str | None,
    streams: list[str],
    output: Path | None,
) -> None:
    """``report plays --template``: the plays report in the template's format."""
    template: Template = load_template(template_ref)
    req = parse_request("plays", start=start, end=end, tz=tz, streams=streams, format="json")
    sink = Sink(output)
    try:
        if is_remote():
            with (
                AdminClient.from_settings(settings) as client,
                client.stream("/reports/plays", api_params(req)) as chunks,
            ):
                doc = json.loads(b"".join(chunks))
            sink.write(render_template(template, [tuple(d.values()) for d in doc]))
        else:

            async def go(db: Database) -> bytes:
                from airtrack.reports.service import batches, prepare

                prep = await prepare(db, req)
                rows = []
                async for batch in batches(db, settings, prep):
                    rows.extend(batch)
                return render_template(template, rows)

            sink.write(run_async(with_db(settings, go, create=False)))
        sink.commit()
    except BaseException:
        sink.abort()
        raise
