"""From per-network timelines to incidents: one per (country, platform) and spell of blocking,
each network with its own start, end, techniques, interruptions, gaps and evidence."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb

from reachwatch.detect._timeline import HOUR, Boundary, DetectParams, Gap, Period, Timeline


@dataclass(slots=True)
class NetworkIncident:
    network: str
    periods: list[Period]  # blocked and partial periods, with the clear spells between them
    gaps: list[Gap]
    alert: datetime | None  # when the online detector first raised an alert for it
    last_data: datetime
    techniques: Counter[str] = field(default_factory=Counter)
    measurements: int = 0
    blocked: int = 0
    evidence: list[str] = field(default_factory=list)
    synthetic: bool = False
    layers: dict[str, int] = field(default_factory=dict)  # measurements blocked per layer

    @property
    def start(self) -> Boundary | None:
        return self.periods[0].start

    @property
    def first_blocked(self) -> datetime:
        p = self.periods[0]
        return p.start.at if p.start else p.first

    @property
    def end(self) -> Boundary | None:
        """None while ongoing: the last blocked period runs to the end of this network's data."""
        return self.periods[-1].end

    @property
    def until(self) -> datetime:
        """When the blocking was last seen, or when it ended."""
        end = self.end
        return end.at if end else self.last_data


@dataclass(slots=True)
class Incident:
    cc: str
    platform: str
    networks: list[NetworkIncident]
    synthetic: bool = False

    @property
    def start(self) -> datetime:
        return min(n.first_blocked for n in self.networks)

    @property
    def ongoing(self) -> bool:
        return any(n.end is None for n in self.networks)

    @property
    def end(self) -> datetime | None:
        return None if self.ongoing else max(n.until for n in self.networks)

    @property
    def techniques(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for n in self.networks:
            total.update(n.techniques)
        return total

    @property
    def main_techniques(self) -> list[str]:
        return main_techniques(self.techniques)


def main_techniques(counts: Counter[str]) -> list[str]:
    """Techniques behind a real share of the blocked measurements, most used first. A handful
    of odd failures during a long block (a flaky probe) stays in the counts, not in the list."""
    total = sum(counts.values())
    return [t for t, c in counts.most_common() if c >= max(3, 0.02 * total)]


def _episodes(timeline: Timeline, params: DetectParams) -> list[list[Period]]:
    """Blocked/partial periods grouped into spells; clear spells shorter than merge_hours stay
    inside a spell as interruptions."""
    spells: list[list[Period]] = []
    pending_clear: list[Period] = []
    merge = timedelta(hours=params.merge_hours)
    for period in timeline.periods:
        if period.state == "clear":
            pending_clear.append(period)
            continue
        if spells and period.first - spells[-1][-1].last <= merge:
            spells[-1].extend(pending_clear)
            spells[-1].append(period)
        else:
            spells.append([period])
        pending_clear = []
    return spells


def _network_incident(
    con: duckdb.DuckDBPyConnection, timeline: Timeline, periods: list[Period], params: DetectParams
) -> NetworkIncident:
    assert timeline.last_data is not None
    start = periods[0].start.earliest if periods[0].start else periods[0].first
    end = periods[-1].end.latest if periods[-1].end else timeline.last_data
    # An alert a little before the placed start still belongs to it (early noisy bucket).
    starts = [t for t, kind in timeline.alerts if kind == "start"]
    alert = next((t for t in starts if start - 6 * HOUR <= t <= end + HOUR), None)
    gaps = [g for g in timeline.gaps if g.start <= end and (g.end is None or g.end > start)]
    ni = NetworkIncident(timeline.network, periods, gaps, alert, timeline.last_data)
    _fill_evidence(con, timeline, ni, (start, end + timedelta(microseconds=1)), params)
    return ni


_COUNTS_SQL = """
SELECT count(*), count(*) FILTER (WHERE verdict = 'blocked'), bool_or(synthetic)
FROM measurements
WHERE classified AND probe_cc = ? AND probe_asn = ? AND platform = ?
  AND measurement_start_time >= ? AND measurement_start_time < ?
"""
_TECHNIQUES_SQL = """
SELECT coalesce(technique, 'unknown'), count(*)
FROM measurements
WHERE classified AND verdict = 'blocked' AND probe_cc = ? AND probe_asn = ? AND platform = ?
  AND measurement_start_time >= ? AND measurement_start_time < ?
GROUP BY 1 ORDER BY 2 DESC, 1
"""
_LAYERS_SQL = """
SELECT layer, count(DISTINCT measurement_id)
FROM observations
WHERE verdict = 'blocked' AND probe_cc = ? AND probe_asn = ? AND platform = ?
  AND measurement_start_time >= ? AND measurement_start_time < ?
GROUP BY 1 ORDER BY 2 DESC, 1
"""


def _fill_evidence(
    con: duckdb.DuckDBPyConnection,
    timeline: Timeline,
    ni: NetworkIncident,
    window: tuple[datetime, datetime],
    params: DetectParams,
) -> None:
    key = [timeline.cc, timeline.network, timeline.platform, *window]
    total, blocked, synthetic = con.execute(_COUNTS_SQL, key).fetchone() or (0, 0, False)
    ni.measurements, ni.blocked = int(total), int(blocked)
    techniques = con.execute(_TECHNIQUES_SQL, key).fetchall()
    ni.techniques = Counter({str(t): int(c) for t, c in techniques})
    ni.layers = {str(layer): int(c) for layer, c in con.execute(_LAYERS_SQL, key).fetchall()}
    ids = measurement_ids(
        con,
        cc=timeline.cc,
        network=timeline.network,
        platform=timeline.platform,
        verdict="blocked",
        start=window[0],
        end=window[1],
        limit=params.evidence_per_network,
    )
    # The measurements either side of the start are evidence too: last clear, first blocked.
    first = ni.periods[0].start
    boundary_ids = [i for i in (first.before_id, first.after_id) if i] if first else []
    ni.evidence = list(dict.fromkeys([*boundary_ids, *ids]))
    ni.synthetic = bool(synthetic)


def assemble_incidents(
    con: duckdb.DuckDBPyConnection, timelines: list[Timeline], params: DetectParams
) -> list[Incident]:
    """Group every network's spells of blocking into incidents per (cc, platform): spells that
    overlap, or follow within merge_hours, belong to one incident."""
    by_scope: dict[tuple[str, str], list[NetworkIncident]] = {}
    for timeline in timelines:
        for periods in _episodes(timeline, params):
            ni = _network_incident(con, timeline, periods, params)
            by_scope.setdefault((timeline.cc, timeline.platform), []).append(ni)
    merge = timedelta(hours=params.merge_hours)
    incidents: list[Incident] = []
    for (cc, platform), spells in sorted(by_scope.items()):
        spells.sort(key=lambda s: s.first_blocked)
        current: list[NetworkIncident] = []
        horizon: datetime | None = None
        for spell in spells:
            if current and horizon is not None and spell.first_blocked > horizon + merge:
                incidents.append(_incident(cc, platform, current))
                current, horizon = [], None
            current.append(spell)
            until = spell.until if spell.end else datetime.max - merge
            horizon = until if horizon is None else max(horizon, until)
        if current:
            incidents.append(_incident(cc, platform, current))
    return sorted(incidents, key=lambda i: (i.start, i.cc, i.platform))


def _incident(cc: str, platform: str, spells: list[NetworkIncident]) -> Incident:
    synthetic = any(s.synthetic for s in spells)
    return Incident(cc, platform, sorted(spells, key=lambda s: s.network), synthetic)


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _bounds(b: Boundary | None) -> list[str | None] | None:
    return None if b is None else [iso(b.earliest), iso(b.latest)]


def _period_json(p: Period) -> dict[str, Any]:
    return {
        "state": p.state,
        "start": iso(p.start.at if p.start else p.first),
        "end": iso(p.end.at) if p.end else None,
        "start_bounds": _bounds(p.start),
        "end_bounds": _bounds(p.end),
        "blocked_share": round(p.share, 3),
        "decisive_measurements": p.decisive,
    }


def network_json(ni: NetworkIncident) -> dict[str, Any]:
    states = {p.state for p in ni.periods}
    start, end = ni.start, ni.end
    return {
        "network": ni.network,
        "start": iso(ni.first_blocked),
        "end": iso(end.at) if end else None,
        "start_bounds": _bounds(start),
        "end_bounds": _bounds(end),
        "status": "ended" if end else "ongoing at end of data",
        "last_data": iso(ni.last_data),
        "alert": iso(ni.alert),
        "techniques": main_techniques(ni.techniques),
        "technique_counts": dict(ni.techniques),
        "blocked_layers": ni.layers,
        "intermittent": "clear" in states or "partial" in states,
        "periods": [_period_json(p) for p in ni.periods],
        "gaps": [{"start": iso(g.start), "end": iso(g.end)} for g in ni.gaps],
        "measurements": ni.measurements,
        "blocked_measurements": ni.blocked,
        "evidence": ni.evidence,
    }


def incident_json(incident: Incident, *, max_evidence: int = 50) -> dict[str, Any]:
    nets = incident.networks
    starts = [n.start for n in nets if n.start]
    ends = [n.end for n in nets if n.end]
    start_bounds = (
        [iso(min(b.earliest for b in starts)), iso(min(b.latest for b in starts))]
        if len(starts) == len(nets)
        else [None, iso(incident.start)]  # blocked from the first data on: start not observed
    )
    end_bounds = (
        None
        if incident.ongoing
        else [iso(max(b.earliest for b in ends)), iso(max(b.latest for b in ends))]
    )
    evidence: list[str] = []
    for n in nets:
        evidence.extend(n.evidence)
    return {
        "cc": incident.cc,
        "platform": incident.platform,
        "start": iso(incident.start),
        "end": iso(incident.end),
        "status": "ongoing at end of data" if incident.ongoing else "ended",
        "start_bounds": start_bounds,
        "end_bounds": end_bounds,
        "networks": [network_json(n) for n in nets],
        "techniques": incident.main_techniques,
        "measurements": sum(n.measurements for n in nets),
        "blocked_measurements": sum(n.blocked for n in nets),
        "evidence": list(dict.fromkeys(evidence))[:max_evidence],
        "synthetic": incident.synthetic,
    }


_IDS_SQL = """
(SELECT measurement_id, measurement_start_time FROM measurements
 WHERE classified AND verdict = ? AND probe_cc = ? AND probe_asn = ? AND platform = ?
   AND measurement_start_time >= ? AND measurement_start_time < ?
 ORDER BY measurement_start_time, measurement_id LIMIT ?)
UNION
(SELECT measurement_id, measurement_start_time FROM measurements
 WHERE classified AND verdict = ? AND probe_cc = ? AND probe_asn = ? AND platform = ?
   AND measurement_start_time >= ? AND measurement_start_time < ?
 ORDER BY measurement_start_time DESC, measurement_id LIMIT ?)
ORDER BY measurement_start_time, measurement_id
"""


def measurement_ids(
    con: duckdb.DuckDBPyConnection,
    *,
    cc: str,
    network: str,
    platform: str,
    verdict: str,
    start: datetime,
    end: datetime,
    limit: int = 5,
) -> list[str]:
    """Ids of the first and last `limit` measurements with `verdict` in [start, end)."""
    key = [verdict, cc, network, platform, start, end, limit]
    return [str(r[0]) for r in con.execute(_IDS_SQL, [*key, *key]).fetchall()]
