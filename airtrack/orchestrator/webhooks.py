"""Webhook endpoints: add (with a new secret), list with delivery state, remove, test.

Messages follow the Standard Webhooks specification: a JSON body ``{type, timestamp,
data}`` and the ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature`` headers,
signed with HMAC-SHA256 under the endpoint's ``whsec_…`` secret by the
``standardwebhooks`` library, so receivers verify with any Standard Webhooks library.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from airtrack.db import Database, Row
from airtrack.errors import UnknownWebhook, WebhookError

#: Every event type integrations can subscribe to (docs/integrations.md).
EVENT_TYPES = (
    "play.started",
    "play.ended",
    "stream.down",
    "stream.up",
    "alert.raised",
    "alert.resolved",
    "catalog.changed",
)


def new_secret() -> str:
    """A secret in the spec's form: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def message(
    event_id: str, type_: str, at: datetime, data: Any, secret: str
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one signed delivery (signed now, as the spec wants)."""
    body = json.dumps(
        {"type": type_, "timestamp": at.astimezone(UTC).isoformat(), "data": data},
        separators=(",", ":"),
        default=str,
    )
    now = datetime.now(UTC)
    return body.encode(), {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body),
    }


async def add_endpoint(
    db: Database, url: str, types: list[str], stream_names: list[str]
) -> dict[str, Any]:
    """Register ``url``; the returned row carries the secret (shown once)."""
    if not url.startswith(("http://", "https://")):
        raise WebhookError(f"webhook URL must be http:// or https://, got {url!r}")
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise WebhookError(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
    ids: list[int] = []
    if stream_names:
        rows = await db.fetch("webhook_stream_ids", {"names": stream_names})
        missing = sorted(set(stream_names) - {r["name"] for r in rows})
        if missing:
            raise WebhookError(f"no streams named {missing}")
        ids = [int(r["id"]) for r in rows]
    secret = new_secret()
    row = await db.fetchone(
        "webhook_add",
        {"url": url, "secret": secret, "types": sorted(set(types)), "stream_ids": ids},
        idempotent=False,
    )
    assert row is not None
    return {**row, "secret": secret}


async def list_endpoints(db: Database) -> list[Row]:
    return await db.fetch("webhook_list")


async def remove_endpoint(db: Database, endpoint_id: int) -> bool:
    return await db.fetchone("webhook_remove", {"id": endpoint_id}) is not None


async def test_endpoint(db: Database, endpoint_id: int, *, timeout_s: float) -> dict[str, Any]:
    """Send one signed ``webhook.test`` message now (not through the outbox)."""
    row = await db.fetchone("webhook_get", {"id": endpoint_id})
    if row is None:
        raise UnknownWebhook(f"no webhook with id {endpoint_id}")
    event_id = "msg_test_" + secrets.token_hex(8)
    body, headers = message(
        event_id, "webhook.test", datetime.now(UTC), {"endpoint_id": endpoint_id}, row["secret"]
    )
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as http:
            resp = await http.post(row["url"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        return {"id": endpoint_id, "ok": False, "status": None, "error": type(exc).__name__}
    ok = 200 <= resp.status_code < 300
    return {"id": endpoint_id, "ok": ok, "status": resp.status_code, "error": None}
