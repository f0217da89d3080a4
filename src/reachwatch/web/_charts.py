"""The report's charts on the dashboard: the same inline SVG (`reachwatch.report`), with a
case's events and deadlines on the axis as the report draws them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reachwatch.cases import Case
from reachwatch.report import Marker, network_label, parse_time, technique_chart, timeline_chart


@dataclass(frozen=True, slots=True)
class Chart:
    label: str
    svg: str  # SVG markup, shown as is: the report escapes every text it puts in


def event_markers(
    case: Case, due: list[tuple[str, str]]
) -> tuple[list[Marker], list[dict[str, str]]]:
    """Markers for the case's events (1, 2, ...) and for when each directive was due (D1, ...),
    with the rows of the table that names them. `due`: (title, due time) per directive."""
    markers: list[Marker] = []
    rows: list[dict[str, str]] = []
    for n, e in enumerate(case.events, 1):
        kind = e.kind.replace("_", " ")
        who = f"{e.actor}: " if e.actor else ""
        markers.append(
            Marker(parse_time(f"{e.date.isoformat()}T00:00:00"), str(n),
                   f"{e.date.isoformat()} {kind}: {who}{e.summary}")
        )  # fmt: skip
        rows.append(
            {"mark": str(n), "date": e.date.isoformat(), "kind": kind,
             "actor": e.actor or "", "summary": e.summary}
        )  # fmt: skip
    for n, (title, at) in enumerate(due, 1):
        markers.append(Marker(parse_time(at), f"D{n}", f"due: {title}", deadline=True))
        rows.append(
            {"mark": f"D{n}", "date": at[:16].replace("T", " "), "kind": "deadline",
             "actor": "", "summary": f"due: {title}"}
        )  # fmt: skip
    return markers, rows


def timelines(
    series: dict[str, list[list[Any]]],
    gaps: dict[str, list[dict[str, Any]]],
    markers: list[Marker],
    span: tuple[datetime, datetime],
    *,
    synthetic: bool,
) -> list[Chart]:
    """One chart per network: `series[network]` is [hour, blocked, decisive] per hour with
    data, `gaps[network]` the long stretches without any."""
    charts = []
    for network, rows in sorted(series.items()):
        label = network_label(network)
        svg = timeline_chart(
            network, label, rows, gaps.get(network, []), markers, span, synthetic=synthetic
        )
        charts.append(Chart(label, svg))
    return charts


def techniques(counts: dict[str, int], *, synthetic: bool) -> str:
    return technique_chart(counts, synthetic=synthetic)
