"""Operations: failure accounting, alerts, recovery mode, error patterns, diagnostics, health.

The orchestrator builds the runtime with :func:`install` and plugs it into the
API as its :class:`~airtrack.api.hooks.OperationsHooks`; the operator routes
(:mod:`airtrack.api.operations`) call the read-side functions here. This
package never imports the API.
"""

from __future__ import annotations

from collections.abc import Callable

from airtrack.db import Database
from airtrack.settings import Settings

from .alerts import WebhookSender
from .runtime import Operations

__all__ = ["Operations", "WebhookSender", "install"]


def install(
    db: Database, settings: Settings, *, replica_id: str, leader: Callable[[], bool]
) -> Operations:
    """Create the runtime of one replica; ``leader()`` says whether it runs the control loop.

    Call :meth:`Operations.start` once an event loop runs, :meth:`Operations.close` at exit.
    """
    webhook = (
        WebhookSender(
            settings.alert_webhook,
            timeout_s=min(settings.http_timeout_s, 10.0),
            attempts=settings.alert_webhook_attempts,
            queue_max=settings.alert_webhook_queue,
        )
        if settings.alert_webhook
        else None
    )
    return Operations(db, settings, replica_id=replica_id, leader=leader, webhook=webhook)
