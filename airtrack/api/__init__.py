"""The orchestrator's HTTP API: one router per audience, typed state and hooks.

=================  =========================================================
module             what it holds
=================  =========================================================
:mod:`.app`        the app factory, error mapping, lifespan tasks
:mod:`.state`      :class:`AppState`: what every route needs
:mod:`.hooks`      :class:`OperationsHooks`: the seam to the operations layer
:mod:`.deps`       dependencies: state, worker/admin token checks
:mod:`.middleware` body limit, request timing
:mod:`.workers`    worker routes (worker token)
:mod:`.admin`      admin routes: streams, workers, assignments, plays
:mod:`.operations` diagnostics, health, alerts, dashboard
:mod:`.probes`     ``/healthz``, ``/metrics``
=================  =========================================================
"""

from __future__ import annotations

from .app import create_app, watch_catalog, wrap
from .hooks import NoOperations, OperationsHooks
from .state import AppState, SnapshotFn

__all__ = [
    "AppState",
    "NoOperations",
    "OperationsHooks",
    "SnapshotFn",
    "create_app",
    "watch_catalog",
    "wrap",
]
