"""The airtrack worker: capture live streams, recognise songs, report plays durably."""

from airtrack.worker.main import run_worker

__all__ = ["run_worker"]
