"""What the failure ledger's decisions do: alerts, recovery mode in the store, webhooks.

:class:`~airtrack.ops.runtime.Operations` decides in memory (the ledger) and
hands each decision here during its step, where the I/O happens: raise or
resolve an alert, persist recovery mode in ``control_state`` (so that a new
leader continues it) with an event, and notify the alert webhook.
"""

from __future__ import annotations

from typing import Any

from airtrack.db import Database, Tx
from airtrack.logging import get_logger
from airtrack.settings import Settings

from .alerts import WebhookSender, alert_json, raise_alert, resolve_alert
from .ledger import (
    Decision,
    FailureLedger,
    PeerAlert,
    PeerAlertRepeat,
    PeerRecovered,
    RecoveryOff,
    RecoveryOn,
)

log = get_logger("airtrack.ops")

#: The control_state key of the cluster's recovery mode.
RECOVERY_KEY = "recovery"


class Outcomes:
    """Applies decisions for one replica (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        replica_id: str,
        ledger: FailureLedger,
        webhook: WebhookSender | None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.replica_id = replica_id
        self.ledger = ledger
        self.webhook = webhook

    async def apply(self, d: Decision) -> None:
        db = self.db
        if isinstance(d, PeerAlert | PeerAlertRepeat):
            message = f"{d.consecutive} consecutive communication failures with {d.peer}" + (
                f" (last: {d.kind}: {d.error})" if d.error else f" (last: {d.kind})"
            )
            row, created = await raise_alert(db, "critical", "peer.failures", d.peer, message)
            if created:
                self._notify("alert.raised", row)
        elif isinstance(d, PeerRecovered):
            row2 = await resolve_alert(db, "peer.failures", d.peer)
            if row2 is not None:
                self._notify("alert.resolved", row2)
        elif isinstance(d, RecoveryOn):
            reason = f"{d.failures} communication failures within {d.window_s:g} s"
            await self._persist_recovery(True, reason)
            row, created = await raise_alert(
                db,
                "critical",
                "recovery_mode",
                "",
                f"recovery mode on: {reason}; voluntary rebalancing suspended, "
                f"leases widened ×{self.settings.recovery_lease_factor:g}",
            )
            if created:
                self._notify("alert.raised", row)
            log.warning("recovery.on", reason=reason, replica=self.replica_id)
        else:
            assert isinstance(d, RecoveryOff)
            await self._persist_recovery(False, f"quiet for {d.quiet_s:.0f} s")
            row2 = await resolve_alert(db, "recovery_mode", "")
            if row2 is not None:
                self._notify("alert.resolved", row2)
            log.info("recovery.off", quiet_s=round(d.quiet_s, 1), lasted_s=round(d.lasted_s, 1))

    async def _persist_recovery(self, on: bool, reason: str) -> None:
        since = self.ledger.recovery_since if on else None
        value = {"on": on, "since": since, "reason": reason, "replica": self.replica_id}

        async def fn(tx: Tx) -> None:
            await tx.execute("control_put", {"key": RECOVERY_KEY, "value": value})
            await tx.execute(
                "audit_insert",
                {
                    "kind": "recovery.on" if on else "recovery.off",
                    "subject": "",
                    "detail": value,
                },
            )

        await self.db.run("ops_recovery_put", fn)

    def _notify(self, event: str, row: dict[str, Any]) -> None:
        if self.webhook is not None:
            self.webhook.submit({"event": event, "alert": alert_json(row)})
