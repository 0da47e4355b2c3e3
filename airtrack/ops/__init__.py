"""Operations: failure accounting, alerts, recovery mode, error patterns, diagnostics, health.

The orchestrator wires this package in with :func:`install`; the routes in
:mod:`airtrack.ops.routes` work with or without it (they read the database).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .alerts import WebhookSender
from .runtime import Operations

if TYPE_CHECKING:
    from airtrack.orchestrator.app import AppState

__all__ = ["Operations", "WebhookSender", "install"]


def install(
    state: AppState, *, replica_id: str, leader: Callable[[], bool] | None = None
) -> Operations:
    """Create the runtime for ``state`` and publish it in ``state.extras``.

    ``leader`` defaults to "this replica's control loop leads". Call
    :meth:`Operations.start` once an event loop runs, :meth:`Operations.close` at exit.
    """
    settings = state.settings
    webhook = (
        WebhookSender(settings.alert_webhook, timeout_s=min(settings.http_timeout_s, 10.0))
        if settings.alert_webhook
        else None
    )

    def leads() -> bool:
        return state.control is not None and state.control.is_leader

    ops = Operations(
        state.db, settings, replica_id=replica_id, leader=leader or leads, webhook=webhook
    )
    state.extras["ops"] = ops
    state.extras["recovery"] = ops.recovery
    return ops
