"""What each page shows, as plain values for its template, built from the query layer's answers
(`reachwatch.web._queries`): the pages ask the same questions as the API, and add only
wording, links and charts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from reachwatch.cases import Case
from reachwatch.catalog import CatalogError
from reachwatch.report import (
    STATUS_TEXT,
    deadline_text,
    directive_title,
    network_label,
    parse_time,
)
from reachwatch.store import FACT_SUMMARY_COLUMNS
from reachwatch.web import _queries as q
from reachwatch.web._charts import Chart, event_markers, techniques, timelines
from reachwatch.web._context import WebContext


def incident_href(incident_id: str) -> str:
    return f"/incidents/{quote(incident_id, safe='')}"


def measurement_href(measurement_id: str) -> str:
    return f"/measurements/{quote(measurement_id, safe='')}"


def case_href(case_id: str) -> str:
    return f"/cases/{quote(case_id, safe='')}"


def explore_href(**filters: str | None) -> str:
    query = urlencode({k: v for k, v in filters.items() if v})
    return f"/measurements?{query}" if query else "/measurements"


def platform_title(ctx: WebContext, name: str) -> str:
    """The catalog's name for a platform ('X (formerly Twitter)'), or its id when unknown."""
    try:
        return ctx.catalog.get(name).title
    except CatalogError:
        return name


def incident_name(inc: dict[str, Any]) -> str:
    return f"{inc['platform']} in {inc['cc']} from {str(inc['start'])[:10]}"


def is_synthetic(ctx: WebContext) -> bool:
    """Whether what the pages show rests on simulated data: then every page says so."""
    if any(i["synthetic"] for i in q.incidents(ctx, q.Filters())):
        return True
    if any(c["synthetic"] for c in q.cases(ctx)):
        return True
    newest = q.measurements(ctx, q.Filters(), limit=1).items
    return bool(newest and newest[0]["synthetic"])


# ---------------------------------------------------------------------------------------------
# Overview


def overview(ctx: WebContext) -> dict[str, Any]:
    rows = q.overview(ctx)
    platforms = sorted({r["platform"] for r in rows})
    by_cc: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_cc.setdefault(r["cc"], {})[r["platform"]] = _cell(r)
    grid = {
        "platforms": [platform_title(ctx, p) for p in platforms],
        "rows": [
            {"cc": cc, "cells": [cells.get(p) for p in platforms]}
            for cc, cells in sorted(by_cc.items())
        ],
    }
    incidents = [_incident_row(i) for i in reversed(q.incidents(ctx, q.Filters()))]
    firsts = [r["first_data"] for r in rows if r["first_data"]]
    lasts = [r["last_data"] for r in rows if r["last_data"]]
    return {
        "grid": grid,
        "incidents": incidents,
        "cases": case_links(ctx),
        "data_start": min(firsts) if firsts else None,
        "data_end": max(lasts) if lasts else None,
    }


_STATE_LABEL = {"blocked": "blocked", "accessible": "reachable", "unknown": "cannot tell"}


def _cell(r: dict[str, Any]) -> dict[str, Any]:
    state = r["state"]
    href = (
        incident_href(r["ongoing_incident"])
        if r["ongoing_incident"]
        else explore_href(cc=r["cc"], platform=r["platform"])
    )
    how = f" by {', '.join(r['techniques'])}" if r["techniques"] else ""
    detail = (
        f"{r['networks']} network(s){how}; {r['measurements']:,} measurements, "
        f"last {str(r['last_data'])[:16].replace('T', ' ')}"
    )
    return {
        "state": {"unknown": "inconclusive"}.get(state, state),
        "label": _STATE_LABEL.get(state, state),
        "since": r["since"],
        "href": href,
        "detail": detail,
    }


def _incident_row(inc: dict[str, Any]) -> dict[str, Any]:
    return {
        "href": incident_href(inc["id"]),
        "name": incident_name(inc),
        "cc": inc["cc"],
        "platform": inc["platform"],
        "start": inc["start"],
        "end": inc["end"],
        "networks": len(inc["networks"]),
        "techniques": inc["techniques"],
    }


def case_links(ctx: WebContext) -> list[dict[str, str]]:
    return [
        {
            "href": case_href(c.id),
            "title": c.title,
            "id": c.id,
            "cc": c.scope.cc,
            "platform": c.scope.platform,
        }
        for c in ctx.cases
    ]


# ---------------------------------------------------------------------------------------------
# Incident


def scope_charts(
    ctx: WebContext, cc: str, platform: str, networks: set[str] | None, case: Case | None
) -> tuple[list[Chart], list[dict[str, str]]]:
    """The report's timeline charts for (cc, platform), one per network (of `networks` when
    given), over the pair's whole data, with `case`'s events and deadlines on the axis; and the
    rows of the table naming those marks."""
    detection = q.detection(ctx, cc, platform)
    data = detection["data"]
    if not data["start"]:
        return [], []
    markers, events = event_markers(case, _due(ctx, case)) if case else ([], [])
    series: dict[str, list[list[Any]]] = {}
    for row in q.series(ctx, q.Filters(cc=cc, platform=platform), "hour"):
        if networks is None or row["network"] in networks:
            decisive = row["blocked"] + row["ok"]
            series.setdefault(row["network"], []).append([row["time"], row["blocked"], decisive])
    gaps: dict[str, list[dict[str, Any]]] = {}
    for g in detection["gaps"]:
        gaps.setdefault(g["network"], []).append(g)
    span = (parse_time(data["start"]), parse_time(data["end"]))
    return timelines(series, gaps, markers, span, synthetic=bool(data["synthetic"])), events


def cases_of(ctx: WebContext, cc: str, platform: str) -> list[Case]:
    return [
        c for c in ctx.cases if (c.scope.cc.upper(), c.scope.platform.lower()) == (cc, platform)
    ]


def incident(ctx: WebContext, incident_id: str) -> dict[str, Any]:
    inc = q.incident(ctx, incident_id)
    cc, platform = inc["cc"], inc["platform"]
    cases = cases_of(ctx, cc, platform)
    networks = {n["network"] for n in inc["networks"]}
    charts, events = scope_charts(ctx, cc, platform, networks, cases[0] if cases else None)
    counts: dict[str, int] = {}
    for n in inc["networks"]:
        for technique, k in n["technique_counts"].items():
            counts[technique] = counts.get(technique, 0) + k
    return {
        "title": f"Incident: {incident_name(inc)}",
        "incident": {**inc, "networks": [_incident_network(n) for n in inc["networks"]]},
        "charts": charts,
        "technique_svg": techniques(counts, synthetic=inc["synthetic"]),
        "events": events,
        "cases": [{"href": case_href(c.id), "title": c.title} for c in cases],
        "explore_href": explore_href(cc=cc, platform=platform, verdict="blocked"),
        "incident_href": incident_href(inc["id"]),
        "synthetic": inc["synthetic"],
    }


def _due(ctx: WebContext, case: Case) -> list[tuple[str, str]]:
    return [(directive_title(d), d["due"]) for d in q.case(ctx, case.id)["directives"]]


def _between(b: list[str | None] | None) -> str:
    if not b:
        return "-"
    if not b[0]:
        return "not observed (blocked from its first measurement)"
    return f"{_short(b[0])} to {_short(b[1])}"


def _short(text: str | None) -> str:
    return "-" if not text else f"{text[:16].replace('T', ' ')}"


def _incident_network(n: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": network_label(n["network"]),
        "start": n["start"],
        "end": n["end"],
        "last_data": n["last_data"],
        "start_between": _between(n["start_bounds"]),
        "end_between": _between(n["end_bounds"]) if n["end"] else "-",
        "techniques": n["techniques"],
        "measurements": n["measurements"],
        "blocked": n["blocked_measurements"],
        "evidence": n["evidence"],
    }


# ---------------------------------------------------------------------------------------------
# Measurement


_OBSERVATION_COLUMNS = ("layer", "host", "address", "verdict", "rule", "technique", "failure")


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def measurement(ctx: WebContext, measurement_id: str) -> dict[str, Any]:
    doc = q.measurement(ctx, measurement_id)
    m = doc["measurement"]
    raw = doc["raw"]
    return {
        "id": doc["id"],
        "m": m,
        "summary": _measurement_summary(m),
        "observations": {
            "columns": _OBSERVATION_COLUMNS,
            "rows": [
                [_cell_text(o.get(c)) for c in _OBSERVATION_COLUMNS] for o in doc["observations"]
            ],
            "rule_col": _OBSERVATION_COLUMNS.index("rule"),
        },
        "facts": {
            "columns": tuple(FACT_SUMMARY_COLUMNS),
            "rows": [
                [_cell_text(f.get(c)) for c in FACT_SUMMARY_COLUMNS.values()] for f in doc["facts"]
            ],
        },
        "raw": None if raw is None else _pretty(raw),
        "raw_sha256": doc["raw_sha256"],
        "raw_intact": doc["raw_intact"],
        "raw_href": f"/api/v1{measurement_href(doc['id'])}/raw",
        "synthetic": bool(m.get("synthetic")),
    }


def _pretty(raw: Any) -> str:
    if isinstance(raw, str):
        return raw
    return orjson.dumps(raw, option=orjson.OPT_INDENT_2).decode()


def _measurement_summary(m: dict[str, Any]) -> list[tuple[str, str]]:
    out = [
        ("test", _cell_text(m.get("test_name"))),
        ("input", _cell_text(m.get("input"))),
        ("platform", _cell_text(m.get("platform"))),
        ("country", _cell_text(m.get("probe_cc"))),
        ("network", network_label(str(m.get("probe_asn") or "")) or "-"),
        ("started (UTC)", _cell_text(m.get("measurement_start_time"))),
        ("source", f"{_cell_text(m.get('source_file'))} line {_cell_text(m.get('source_line'))}"),
    ]
    if m.get("classifier_version") is not None:
        out.append(("judged by", f"classifier {m['classifier_version']}, fingerprint set SHA-256 "
                    f"{m.get('fingerprints_sha256')}"))  # fmt: skip
    elif m.get("classified"):
        out.append(("judged by", "a classifier that did not record its version"))
    return out


# ---------------------------------------------------------------------------------------------
# Case


def _status_class(status: str) -> str:
    return "s-" + status.replace(" ", "-")


def case(ctx: WebContext, case_id: str) -> dict[str, Any]:
    doc = q.case(ctx, case_id)
    loaded = next(c for c in ctx.cases if c.id == case_id)
    directives = [
        {
            "title": directive_title(d),
            "summary": d["summary"],
            "requires": d["requires"],
            "deadline": deadline_text(d),
            "status_text": STATUS_TEXT[d["status"]],
            "status_class": _status_class(d["status"]),
            "outcome": d["statement"],
            "networks": [
                {
                    "label": network_label(n["network"]),
                    "status_text": STATUS_TEXT[n["status"]],
                    "status_class": _status_class(n["status"]),
                    "since": n["since"],
                    "until": n["until"],
                    "ongoing": n["ongoing"],
                    "days": "-"
                    if n["days_past_deadline"] is None
                    else f"{n['days_past_deadline']:.1f}",
                    "evidence": n["evidence"],
                }
                for n in d["networks"]
            ],
        }
        for d in doc["directives"]
    ]
    cc, platform = loaded.scope.cc.upper(), loaded.scope.platform.lower()
    charts, _ = scope_charts(ctx, cc, platform, None, loaded)
    scoped = q.Filters(cc=cc, platform=platform)
    return {
        "charts": charts,
        "case": {"id": loaded.id, "title": loaded.title, "scope": doc["scope"]},
        "headline": doc["headline"],
        "data": doc["data"],
        "directives": directives,
        "events": doc["events"],
        "incidents": [
            {"href": incident_href(i["id"]), "name": incident_name(i)}
            for i in q.incidents(ctx, scoped)
        ],
        "synthetic": bool(doc["data"]["synthetic"]),
    }
