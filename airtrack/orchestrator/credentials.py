"""Per-worker credentials: one worker cannot speak for another (docs/security.md).

The worker token is shared by the fleet. Each worker also keeps a secret of its
own under its HOME and presents it (header :data:`~airtrack.protocol.CREDENTIAL_HEADER`)
on every call; its first register with it claims the id. Afterwards heartbeat,
deregister and plays of that id need it, and so does registering the id again,
unless the id went inactive (a machine replaced) or an admin reset it. Only the
SHA-256 of a credential is stored. An id that never claimed a credential stays
open, as before credentials existed.
"""

from __future__ import annotations

import hashlib
import hmac

from airtrack.db import Database
from airtrack.logging import get_logger

log = get_logger("airtrack.orchestrator.credentials")


def digest(credential: str) -> str:
    """What the store keeps of a credential."""
    return hashlib.sha256(credential.encode()).hexdigest()


async def claim(db: Database, worker_id: str, credential: str | None) -> bool:
    """At register: may the caller take ``worker_id`` with ``credential``?"""
    if credential is None:
        return await db.fetchval("worker_credential_get", {"id": worker_id}) is None
    row = await db.fetchval(
        "worker_credential_claim", {"id": worker_id, "sha256": digest(credential)}
    )
    if row is None:
        log.warning("worker.credential_refused", worker=worker_id, at="register")
    return row is not None


def presented(credential: str | None) -> str | None:
    """The digest a store-side check compares (``None``: no credential presented)."""
    return None if credential is None else digest(credential)


def refused(worker_id: str) -> None:
    """Log a refusal made in the store (the heartbeat checks in its own round trip)."""
    log.warning("worker.credential_refused", worker=worker_id)


async def verify(db: Database, worker_id: str, credential: str | None) -> bool:
    """Does ``credential`` speak for ``worker_id`` (always, if the id holds none)?"""
    stored = await db.fetchval("worker_credential_get", {"id": worker_id})
    if stored is None:
        return True
    ok = credential is not None and hmac.compare_digest(str(stored), digest(credential))
    if not ok:
        refused(worker_id)
    return ok


async def reset(db: Database, worker_id: str) -> bool:
    """Forget ``worker_id``'s credential (admin): the next register claims it afresh."""
    done = await db.fetchval("worker_credential_reset", {"id": worker_id})
    if done is not None:
        log.info("worker.credential_reset", worker=worker_id)
    return done is not None
