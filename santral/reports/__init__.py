"""Contact-centre KPIs computed from the store, and their table, CSV, JSON and PNG output."""

from __future__ import annotations

from santral.reports.kpis import Facts, KpiParameters, Kpis, compute_kpis
from santral.reports.render import render_chart, render_csv, render_json, render_table
from santral.reports.report import Report, ReportError, ReportRow, compute_report

__all__ = [
    "Facts",
    "KpiParameters",
    "Kpis",
    "Report",
    "ReportError",
    "ReportRow",
    "compute_kpis",
    "compute_report",
    "render_chart",
    "render_csv",
    "render_json",
    "render_table",
]
