"""Dashboard assets: plain HTML, CSS and JavaScript served by the orchestrator (no build step)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent
