"""Rights reports (docs/reports.md): plays, summary and coverage, in CSV, JSON or XLSX.

Layers, imported one way:

* :mod:`.request` — parse and check what was asked (range, zone, stations): pure;
* :mod:`.coverage` — monitored time and gaps from ownership and status history: pure;
* :mod:`.shape` — the columns of each report and its rows from query rows: pure;
* :mod:`.writers` — CSV, JSON and XLSX writers fed batch by batch;
* :mod:`.service` — runs a report against the database as batches of rows;
* :mod:`.soundexchange` — SoundExchange's Report of Use (monthly returns);
* :mod:`.templates` — the plays report laid out by a TOML template (PRS, BMI-style, own).

The CLI (local), the API and the remote CLI all go through :mod:`.service`, so a
report is the same bytes whichever way it is asked for.
"""

from __future__ import annotations

from .request import FORMATS, REPORTS, ReportRequest, parse_request

__all__ = ["FORMATS", "REPORTS", "ReportRequest", "parse_request"]
