"""Admin operations on streams, workers and assignments (used by the API and the CLI)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airtrack.db import Database, Row, Tx
from airtrack.db.zones import zone_names
from airtrack.errors import InputRefused, IntegrityViolation, StreamExists
from airtrack.logging import get_logger
from airtrack.protocol import StreamCreate
from airtrack.redact import mask_credentials, mask_fields, redact_url
from airtrack.settings import Settings

from .url_policy import host_refusal, stream_policy

log = get_logger("airtrack.orchestrator.streams")


def url_refusal(host: str, settings: Settings) -> str | None:
    """Why a stream URL on ``host`` is refused by policy, or None.

    Workers fetch whatever URL a stream has, from inside their network: link-local
    and metadata addresses (credentials of cloud machines) are opt-in, private and
    loopback ones can be switched off (:mod:`.url_policy`, shared with webhooks). A
    name is resolved by the worker when it connects.
    """
    return host_refusal(host, stream_policy(settings))


async def zone_refusal(db: Database, zone: str) -> str | None:
    """Why a station's time zone is refused, or None: it must be one PostgreSQL knows
    (reports convert in the database; Python also accepts ``localtime`` or ``posix/…``)."""
    if zone in await zone_names(db):
        return None
    return f"unknown time zone {zone[:64]!r}: use an IANA name such as Europe/Lisbon or UTC"


async def add_stream(db: Database, req: StreamCreate, settings: Settings) -> Row:
    """Add a stream; :class:`InputRefused` by URL policy or an unknown zone,
    :class:`StreamExists` on a taken name or URL (two streams on one URL would be
    monitored, and counted, twice)."""
    why = url_refusal(req.url.host or "", settings)
    if why is not None:
        raise InputRefused(f"stream URL refused: {why}")
    if req.stats_url:
        why = url_refusal(urlsplit(req.stats_url).hostname or "", settings)
        if why is not None:
            raise InputRefused(f"stats URL refused: {why}")
    why = await zone_refusal(db, req.timezone)
    if why is not None:
        raise InputRefused(why)
    url = str(req.url)

    async def fn(tx: Tx) -> Row:
        same = await tx.fetchone("stream_with_url", {"url": url})
        if same is not None:
            raise StreamExists(f"stream {same['name']!r} (#{same['id']}) already has this URL")
        row = await tx.fetchone(
            "stream_insert",
            {
                "name": req.name,
                "url": url,
                "backup_urls": req.backup_urls,
                "timezone": req.timezone,
                "country": req.country,
                "region": req.region,
                "city": req.city,
                "genre": req.genre,
                "extra": req.extra,
                "stats_url": req.stats_url,
            },
        )
        assert row is not None
        await tx.execute("assignment_insert", {"sid": row["id"]})
        await tx.execute("notify_tick", {"why": f"stream_added:{row['id']}"})
        return row

    try:
        row = await db.run("stream_add", fn)
    except IntegrityViolation as exc:
        if exc.sqlstate == "23505":
            raise StreamExists(f"a stream named {req.name!r} already exists") from None
        raise
    log.info("stream.added", stream=req.name, id=row["id"])
    return {**row, "stats_url": redact_url(row["stats_url"])}


async def remove_stream(db: Database, name: str) -> bool:
    async def fn(tx: Tx) -> bool:
        row = await tx.fetchone("stream_delete", {"name": name})
        return row is not None

    removed: bool = await db.run("stream_remove", fn)
    if removed:
        log.info("stream.removed", stream=name)
    return removed


async def set_stream_url(db: Database, name: str, url: str) -> bool:
    """Point stream ``name`` at ``url``; False when there is no such stream or no change.

    The new URL is read by the worker that next takes the stream (the demo sets it before
    it starts any).
    """

    async def fn(tx: Tx) -> bool:
        row = await tx.fetchone("stream_set_url", {"name": name, "url": url})
        if row is not None:
            await tx.execute("notify_tick", {"why": f"stream_moved:{row['id']}"})
        return row is not None

    moved: bool = await db.run("stream_set_url", fn)
    if moved:
        log.info("stream.moved", stream=name, url=mask_credentials(url))
    return moved


async def remove_stream_by_id(db: Database, stream_id: int) -> str | None:
    """Remove stream ``stream_id``; its name, or None when there is none."""
    row = await db.fetchone("stream_delete_by_id", {"id": stream_id})
    if row is None:
        return None
    log.info("stream.removed", stream=row["name"], id=stream_id)
    return str(row["name"])


#: Fields of a listed stream that may hold a URL with credentials (shown masked).
SHOWN_URL_FIELDS = ("url", "backup_urls", "url_in_use", "last_error", "health_cause")


async def list_streams(db: Database) -> list[dict[str, Any]]:
    """Every stream as shown to people: credentials in URLs masked (the worker's
    assignment is the one place that carries them)."""
    rows = await db.fetch("streams_list")
    return [
        mask_fields({**r, "stats_url": redact_url(r["stats_url"])}, *SHOWN_URL_FIELDS) for r in rows
    ]


async def list_workers(db: Database) -> list[Row]:
    return await db.fetch("workers_list")


async def list_assignments(db: Database) -> list[Row]:
    return await db.fetch("assignments_list")
