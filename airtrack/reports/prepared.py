"""A report request resolved against the database's stations: what every report reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airtrack.settings import Settings

from .request import ReportRequest, Station
from .shape import COLUMNS, Column


@dataclass(frozen=True)
class Prepared:
    request: ReportRequest
    stations: list[Station]

    @property
    def columns(self) -> tuple[Column, ...]:
        return COLUMNS[self.request.report]

    @property
    def filename(self) -> str:
        r = self.request
        return f"airtrack-{r.report}-{r.start.text}-{r.end.text}.{r.format}".replace(":", "")

    def params(self, settings: Settings, *, until: datetime | None = None) -> dict[str, Any]:
        st = self.stations
        return {
            "ids": [s.id for s in st],
            "names": [s.name for s in st],
            "tzs": [s.zone.key for s in st],
            "t0s": [s.t0 for s in st],
            "t1s": [min(s.t1, until) if until else s.t1 for s in st],
            "max_play_s": settings.report_play_max_s,
            "hold_s": settings.listeners_hold_s,
            "across_tz": self.request.tz.key if self.request.tz else "UTC",
            "include_open": self.request.include_open,
        }
