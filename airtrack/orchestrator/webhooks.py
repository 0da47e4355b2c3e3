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

from standardwebhooks.webhooks import Webhook

from airtrack.db import Database, Row, Tx
from airtrack.errors import UnknownWebhook, WebhookError, WebhookLimit
from airtrack.logging import get_logger
from airtrack.settings import Settings

from .url_policy import webhook_url_refusal
from .webhook_http import post, webhook_client

log = get_logger("airtrack.orchestrator.webhooks")

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
    db: Database, url: str, types: list[str], stream_names: list[str], settings: Settings
) -> dict[str, Any]:
    """Register ``url``; the returned row carries the secret (shown once).

    :class:`WebhookError` when the URL policy refuses it (:mod:`.url_policy`) or a type
    or stream is unknown; :class:`WebhookLimit` at ``webhook_endpoints_max`` endpoints.
    """
    why = webhook_url_refusal(url, settings)
    if why is not None:
        raise WebhookError(f"webhook URL refused: {why}")
    unknown = sorted(set(types) - set(EVENT_TYPES))
    if unknown:
        raise WebhookError(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
    secret = new_secret()
    cap = settings.webhook_endpoints_max

    async def fn(tx: Tx) -> Row:
        ids: list[int] = []
        if stream_names:
            rows = await tx.fetch("webhook_stream_ids", {"names": stream_names})
            missing = sorted(set(stream_names) - {r["name"] for r in rows})
            if missing:
                raise WebhookError(f"no streams named {missing}")
            ids = [int(r["id"]) for r in rows]
        await tx.fetch("webhook_add_lock")
        if await tx.fetchval("webhook_count") >= cap:
            raise WebhookLimit(
                f"at most {cap} webhook endpoints (AIRTRACK_WEBHOOK_ENDPOINTS_MAX): remove "
                "one first, or send several event types to one receiver"
            )
        row = await tx.fetchone(
            "webhook_add",
            {"url": url, "secret": secret, "types": sorted(set(types)), "stream_ids": ids},
        )
        assert row is not None
        return row

    row = await db.run("webhook_add", fn, idempotent=False)
    return {
        "id": row["id"],
        "url": row["url"],
        "events": list(row["event_types"]),
        "streams": sorted(set(stream_names)),
        "created_at": row["created_at"],
        "secret": secret,
    }


def delivery_state(row: Row) -> dict[str, Any]:
    """An endpoint row as the API and CLI show it (no secret)."""
    keep = (
        "id",
        "url",
        "event_types",
        "stream_ids",
        "created_at",
        "cursor",
        "queued",
        "delivered",
        "failures",
        "given_up",
        "attempts",
        "failing_since",
        "next_attempt_at",
        "last_success_at",
        "last_error",
        "leased_by",
        "leased_until",
    )
    return {k: row.get(k) for k in keep}


async def list_endpoints(db: Database) -> list[dict[str, Any]]:
    """Every endpoint with its delivery state, as the API and the CLI show it: ``events``
    and ``streams`` (names), the same pair a request gives (no secret)."""
    shown = []
    for row in await db.fetch("webhook_list"):
        state = delivery_state(row)
        state.pop("event_types", None)
        state.pop("stream_ids", None)
        shown.append(
            {
                "id": row["id"],
                "url": row["url"],
                "events": list(row["event_types"]),
                "streams": list(row["streams"]),
                **state,
            }
        )
    return shown


async def remove_endpoint(db: Database, endpoint_id: int) -> bool:
    return await db.fetchone("webhook_remove", {"id": endpoint_id}) is not None


async def test_endpoint(db: Database, endpoint_id: int, settings: Settings) -> dict[str, Any]:
    """Send one signed ``webhook.test`` message now (not through the outbox).

    The answer says only whether the receiver took it (a 2xx): neither its status code
    nor why a connection failed, so the route cannot serve to probe which ports of
    which hosts answer. The reason is logged for the operator.
    """
    row = await db.fetchone("webhook_get", {"id": endpoint_id})
    if row is None:
        raise UnknownWebhook(f"no webhook with id {endpoint_id}")
    event_id = "msg_test_" + secrets.token_hex(8)
    body, headers = message(
        event_id, "webhook.test", datetime.now(UTC), {"endpoint_id": endpoint_id}, row["secret"]
    )
    async with webhook_client(settings, max_connections=1) as http:
        answer = await post(http, row["url"], body, headers, settings)
    if answer.error is not None:
        log.info("webhook.test_failed", endpoint=endpoint_id, error=answer.error)
    return {"id": endpoint_id, "ok": answer.error is None}
