"""Everything a report says, gathered from the store as one JSON document.

The document is the report's single source: the HTML and PDF are rendered from it alone, and
`verify` rebuilds it from a bundle's raw measurements to check every claim. It reuses the
compliance check of cases/ and the detection of detect/; it adds only what a reader needs
beside them (the hourly series for the charts, counts, and the details of every cited id).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import duckdb

from reachwatch.cases import Case, CaseCheck, check_case
from reachwatch.detect import ALL_LAYERS, DetectParams, iso, load_series

# The measurements a report rests on: every stored measurement of the case's country and
# platform. Recorded in a bundle's manifest as the query that selected its data.
SCOPE_SQL = "probe_cc = ? AND platform = ?"


def scope_params(case: Case) -> list[str]:
    return [case.scope.cc.upper(), case.scope.platform.lower()]


def gather_facts(
    case: Case, con: duckdb.DuckDBPyConnection, params: DetectParams | None = None
) -> dict[str, Any]:
    """The report's content as data: deterministic for the same measurements and tools."""
    checked = check_case(case, con, params=params)
    doc = checked.to_json()
    args = scope_params(case)
    return {
        "case": _case_json(case),
        "check": doc,
        "gaps": [
            g
            for g in checked.detection.to_json()["gaps"]
            if g["cc"] == args[0] and g["platform"] == args[1]
        ],
        "last_state": _last_state(checked),
        "series": _series(con, case),
        "verdicts": _counts(con, "coalesce(verdict, 'not classified')", args),
        "techniques": _techniques(con, args),
        "sources": _sources(con, args),
        "rules": _rules(con, args),
        "cited": _cited(con, sorted(set(cited_ids(doc)))),
    }


def _case_json(case: Case) -> dict[str, Any]:
    scope = case.scope
    return {
        "id": case.id,
        "title": case.title,
        "scope": {"cc": scope.cc, "platform": scope.platform, "networks": list(scope.networks)},
        "events": [
            {
                "date": e.date.isoformat(),
                "kind": e.kind,
                "id": e.id,
                "actor": e.actor,
                "summary": e.summary,
                "label": e.label,
                "requires": e.requires,
                "deadline": e.deadline.isoformat() if e.deadline else None,
                "sources": [{"name": s.name, "url": s.url} for s in e.sources],
            }
            for e in case.events
        ],
    }


def cited_ids(doc: dict[str, Any]) -> Iterator[str]:
    """Every measurement id the compliance check and the incidents cite."""
    for incident in doc["incidents"]:
        yield from incident["evidence"]
        for network in incident["networks"]:
            yield from network["evidence"]
    for directive in doc["directives"]:
        for network in directive["networks"]:
            yield from network["evidence"]


def _last_state(checked: CaseCheck) -> dict[str, dict[str, Any]]:
    """Per network: when its data ends and what it showed then (for directives whose deadline
    falls after the data: the report says what the data does show, not only 'no data')."""
    out: dict[str, dict[str, Any]] = {}
    for t in checked.detection.timelines:
        if t.platform != checked.case.scope.platform or t.last_data is None:
            continue
        state = t.periods[-1].state if t.periods else None
        out[t.network] = {
            "first_data": iso(t.first_data),
            "last_data": iso(t.last_data),
            "state": state,
        }
    return out


def _series(con: duckdb.DuckDBPyConnection, case: Case) -> dict[str, list[list[Any]]]:
    """Per network, [hour, blocked, decisive] for every hour with data."""
    out: dict[str, list[list[Any]]] = {}
    for s in load_series(con, cc=case.scope.cc, platform=case.scope.platform, layers=(ALL_LAYERS,)):
        rows = out.setdefault(s.key.network, [])
        for hour, blocked, decisive in zip(s.hours, s.blocked, s.decisive, strict=True):
            at = hour.astype("datetime64[s]").item()
            assert isinstance(at, datetime)
            rows.append([iso(at), int(blocked), int(decisive)])
    return dict(sorted(out.items()))


def _counts(con: duckdb.DuckDBPyConnection, expr: str, args: list[str]) -> dict[str, int]:
    sql = f"SELECT {expr}, count(*) FROM measurements WHERE {SCOPE_SQL} GROUP BY 1 ORDER BY 1"
    return {str(k): int(n) for k, n in con.execute(sql, args).fetchall()}


def _techniques(con: duckdb.DuckDBPyConnection, args: list[str]) -> dict[str, dict[str, int]]:
    """Blocked measurements per network and technique, over all the data in scope."""
    sql = f"""
        SELECT probe_asn, coalesce(technique, 'unknown'), count(*) FROM measurements
        WHERE {SCOPE_SQL} AND classified AND verdict = 'blocked'
        GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2"""
    out: dict[str, dict[str, int]] = {}
    for network, technique, n in con.execute(sql, args).fetchall():
        out.setdefault(str(network), {})[str(technique)] = int(n)
    return out


def _sources(con: duckdb.DuckDBPyConnection, args: list[str]) -> list[dict[str, Any]]:
    sql = f"""
        SELECT source, coalesce(synthetic, false), count(*),
               min(measurement_start_time), max(measurement_start_time)
        FROM measurements WHERE {SCOPE_SQL} GROUP BY 1, 2 ORDER BY 1, 2"""
    return [
        {"source": str(s), "synthetic": bool(syn), "count": int(n), "first": iso(a), "last": iso(b)}
        for s, syn, n, a, b in con.execute(sql, args).fetchall()
    ]


def _rules(con: duckdb.DuckDBPyConnection, args: list[str]) -> dict[str, int]:
    """Every rule that fired on the measurements in scope, with how many it judged."""
    sql = f"""
        SELECT layer || ':' || rule, count(DISTINCT measurement_id) FROM observations
        WHERE measurement_id IN (SELECT measurement_id FROM measurements WHERE {SCOPE_SQL})
        GROUP BY 1 ORDER BY 1"""
    return {str(r): int(n) for r, n in con.execute(sql, args).fetchall()}


def _cited(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Time, network, input, verdict, technique and rules of every cited measurement."""
    if not ids:
        return {}
    rows = con.execute(
        """
        SELECT m.measurement_id, m.measurement_start_time, m.probe_asn, m.input, m.verdict,
               m.technique, m.synthetic,
               (SELECT string_agg(DISTINCT o.layer || ':' || o.rule || '=' || o.verdict, ' '
                                  ORDER BY o.layer || ':' || o.rule || '=' || o.verdict)
                FROM observations o WHERE o.measurement_id = m.measurement_id)
        FROM measurements m WHERE m.measurement_id IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY m.measurement_start_time, m.measurement_id""",
        [ids],
    ).fetchall()
    return {
        str(mid): {
            "time": iso(at),
            "network": str(asn),
            "input": inp,
            "verdict": verdict,
            "technique": technique,
            "synthetic": bool(syn),
            "rules": (rules or "").split(),
        }
        for mid, at, asn, inp, verdict, technique, syn, rules in rows
    }
