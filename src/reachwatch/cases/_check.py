"""Was each directive of a case followed? Tested per network against the detected timelines."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import duckdb

from reachwatch.cases._corroborate import RestorationCheck, check_restorations
from reachwatch.cases._model import Case, Event
from reachwatch.catalog import CatalogError, load_catalog
from reachwatch.detect import (
    Detection,
    DetectParams,
    Period,
    Timeline,
    country_rows,
    detect,
    incident_json,
    iso,
    measurement_ids,
    prepare_search,
    reads_files,
)

Status = Literal["followed", "followed late", "not followed", "no data"]
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass(slots=True)
class NetworkCompliance:
    network: str
    status: Status
    since: datetime | None = None  # when the network came into line (or the blocking began)
    until: datetime | None = None  # blocking seen until (for directives to restore access)
    ongoing: bool = False  # still not in line at the end of this network's data
    days_past: float | None = None  # days past the deadline the blocking persisted
    evidence: list[str] = field(default_factory=list)
    # When access came back, within bounds: wide when a gap in the data hides the moment.
    restored_between: tuple[datetime, datetime] | None = None


@dataclass(slots=True)
class DirectiveCheck:
    event: Event
    due: datetime
    status: Status
    networks: list[NetworkCompliance]
    statement: str


@dataclass(slots=True)
class CaseCheck:
    case: Case
    detection: Detection
    directives: list[DirectiveCheck]
    restorations: list[RestorationCheck] = field(default_factory=list)

    def headline(self) -> str:
        """The case in one paragraph: since when, where, how, and the latest directive."""
        scope = self.case.scope
        incidents = [i for i in self.detection.incidents if i.platform == scope.platform]
        if not incidents:
            data = self.detection
            if data.data_start is None or data.data_end is None:
                # An empty store says nothing: never let it read as "not blocked".
                return (
                    f"No measurements of {scope.platform} in {scope.cc} in the store: "
                    "nothing is known about blocking."
                )
            return (
                f"No blocking of {scope.platform} in {scope.cc} is visible in the data "
                f"({_short(data.data_start)} to {_short(data.data_end)})."
            )
        first = incidents[0]
        doc = incident_json(first)
        bounds = doc["start_bounds"]
        between = (
            f" (between {_text_time(bounds[0])} and {_text_time(bounds[1])})" if bounds[0] else ""
        )
        nets = ", ".join(n.network for n in first.networks)
        how = ", ".join(first.main_techniques)
        state = (
            f"still blocked at the end of the data ({_short(self.detection.data_end)})"
            if first.ongoing
            else f"until {_short(first.end)}"
        )
        data_end = self.detection.data_end
        silent = [
            f"{n.network} since {_short(n.last_data)}"
            for n in first.networks
            if n.end is None and data_end is not None and data_end - n.last_data > DAY
        ]
        if silent:
            # Blocked when its probes went quiet: nothing says the block still holds there.
            state += f" (no data from {', '.join(silent)}, blocked when it stopped)"
        text = (
            f"{_title(scope.platform)} blocked in {scope.cc} since {_short(first.start)}{between} "
            f"on {nets}, by {how}; {state}."
        )
        due = [d for d in self.directives if d.event.requires == "accessible"]
        if due:
            last = due[-1]
            text += f" {last.statement}."
        return text

    def to_json(self) -> dict[str, Any]:
        data = self.detection.to_json()
        return {
            "case": self.case.id,
            "title": self.case.title,
            "headline": self.headline(),
            "scope": {
                "cc": self.case.scope.cc,
                "platform": self.case.scope.platform,
                "networks": list(self.case.scope.networks),
            },
            "data": data["data"],
            "directives": [_directive_json(d) for d in self.directives],
            "restorations": [r.to_json() for r in self.restorations],
            "incidents": data["incidents"],
        }


def _directive_json(d: DirectiveCheck) -> dict[str, Any]:
    e = d.event
    return {
        "id": e.id,
        "date": e.date.isoformat(),
        "actor": e.actor,
        "summary": e.summary,
        "label": e.label,
        "requires": e.requires,
        "deadline": e.deadline.isoformat() if e.deadline else None,
        "due": iso(d.due),
        "status": d.status,
        "statement": d.statement,
        "sources": [{"name": s.name, "url": s.url} for s in e.sources],
        "networks": [
            {
                "network": n.network,
                "status": n.status,
                "since": iso(n.since),
                "until": iso(n.until),
                "ongoing": n.ongoing,
                "days_past_deadline": None if n.days_past is None else round(n.days_past, 1),
                "restored_between": [iso(t) for t in n.restored_between]
                if n.restored_between
                else None,
                "evidence": n.evidence,
            }
            for n in d.networks
        ],
    }


def _blocked(periods: list[Period]) -> list[tuple[datetime, datetime | None]]:
    """(start, end or None while ongoing) of every blocked or partial period."""
    return [
        (p.start.at if p.start else p.first, p.end.at if p.end else None)
        for p in periods
        if p.state != "clear"
    ]


def _check_restore(con: duckdb.DuckDBPyConnection, t: Timeline, due: datetime) -> NetworkCompliance:
    assert t.last_data is not None
    spells = _blocked(t.periods)
    after = [(s, e) for s, e in spells if e is None or e > due]

    def ids(verdict: str, start: datetime, end: datetime) -> list[str]:
        return measurement_ids(
            con,
            cc=t.cc,
            network=t.network,
            platform=t.platform,
            verdict=verdict,
            start=start,
            end=end,
        )

    if not after:
        if t.last_data <= due:
            return NetworkCompliance(t.network, "no data")
        ended = [e for _, e in spells if e is not None and e <= due]
        evidence = ids("accessible", due, t.last_data)
        return NetworkCompliance(
            t.network, "followed", since=max(ended) if ended else None, evidence=evidence
        )
    end = after[-1][1]
    until = end or t.last_data
    evidence = ids("blocked", due, until)
    if t.last_data <= due:
        # Blocked when the data stopped, before the deadline: nothing is known after it.
        return NetworkCompliance(t.network, "no data", until=t.last_data, evidence=evidence)
    days = (until - due) / DAY
    if end is None:
        return NetworkCompliance(
            t.network, "not followed", until=until, ongoing=True, days_past=days, evidence=evidence
        )
    last = [p for p in t.periods if p.state != "clear" and p.end is not None][-1]
    assert last.end is not None
    return NetworkCompliance(
        t.network,
        "followed late",
        since=end,
        until=end,
        days_past=days,
        evidence=evidence,
        restored_between=(last.end.earliest, last.end.latest),
    )


def _check_block(con: duckdb.DuckDBPyConnection, t: Timeline, due: datetime) -> NetworkCompliance:
    assert t.last_data is not None
    after = [(s, e) for s, e in _blocked(t.periods) if e is None or e > due]
    if not after:
        if t.last_data <= due:
            return NetworkCompliance(t.network, "no data")
        return NetworkCompliance(t.network, "not followed")
    since, _ = after[0]
    end = after[-1][1]
    evidence = measurement_ids(
        con,
        cc=t.cc,
        network=t.network,
        platform=t.platform,
        verdict="blocked",
        start=since,
        end=end or t.last_data,
    )
    return NetworkCompliance(
        t.network,
        "followed",
        since=since,
        until=end or t.last_data,
        ongoing=end is None,
        evidence=evidence,
    )


def _overall(networks: list[NetworkCompliance]) -> Status:
    statuses = {n.status for n in networks}
    order: tuple[Status, ...] = ("not followed", "followed late", "followed")
    for status in order:
        if status in statuses:
            return status
    return "no data"


def _nets(networks: list[NetworkCompliance], status: Status) -> str:
    return ", ".join(n.network for n in networks if n.status == status)


def _short(t: datetime | None) -> str:
    return "-" if t is None else t.strftime("%Y-%m-%d %H:%M")


def _title(platform: str) -> str:
    try:
        return load_catalog().get(platform).title
    except CatalogError:
        return platform


def _text_time(value: str | None) -> str:
    return "-" if value is None else value[:16].replace("T", " ")


def _unknown_span(n: NetworkCompliance) -> str:
    """Say so when the moment access came back is hidden by missing data."""
    if n.restored_between is None:
        return ""
    earliest, latest = n.restored_between
    if latest - earliest <= 2 * HOUR:
        return ""
    return f" (no data from {_short(earliest)}: back at some time before {_short(latest)})"


def _statement(event: Event, due: datetime, networks: list[NetworkCompliance]) -> str:
    who = event.actor or event.kind.replace("_", " ")
    head = f"{who} {event.date.isoformat()}: {event.label or event.summary}"
    if event.deadline:
        head += f" -> deadline {event.deadline.isoformat()}"
    elif event.requires == "accessible":
        head += " -> no deadline set: due at once"
    parts: list[str] = []
    if event.requires == "accessible":
        stuck = [n for n in networks if n.status == "not followed"]
        if stuck:
            days = min(n.days_past or 0 for n in stuck)
            where = _nets(networks, "not followed")
            parts.append(
                f"blocking persisted at least {days:.0f} days past it on {where}"
                " (ongoing at end of data)"
            )
        for n in networks:
            if n.status == "followed late":
                parts.append(
                    f"{n.network} restored {_short(n.since)}, {n.days_past or 0:.1f} days late"
                    + _unknown_span(n)
                )
        if any(n.status == "followed" for n in networks):
            parts.append(f"accessible when due on {_nets(networks, 'followed')}")
    else:
        for n in networks:
            if n.status == "followed":
                parts.append(f"blocked from {_short(n.since)} on {n.network}")
        if any(n.status == "not followed" for n in networks):
            parts.append(f"not blocked on {_nets(networks, 'not followed')}")
    if any(n.status == "no data" for n in networks):
        parts.append(f"no data after it from {_nets(networks, 'no data')}")
    return f"{head}; " + "; ".join(parts) if parts else f"{head}; no measurements to judge it"


def check_case(
    case: Case, con: duckdb.DuckDBPyConnection, *, params: DetectParams | None = None
) -> CaseCheck:
    """Each directive of the case against the measurements of its scope in the store."""
    cc, platform = case.scope.cc, case.scope.platform
    if reads_files(con):  # one read of the files, not one per question (see country_rows)
        prepare_search()
        local = country_rows(con, cc, platform)
        try:
            detection = detect(local, cc=cc, platform=platform, params=params, volumes=con)
            return _check_case(case, local, detection)
        finally:
            local.close()
    return _check_case(case, con, detect(con, cc=cc, platform=platform, params=params))


def _check_case(case: Case, con: duckdb.DuckDBPyConnection, detection: Detection) -> CaseCheck:
    timelines = {t.network: t for t in detection.timelines if t.last_data is not None}
    networks = list(case.scope.networks) + sorted(set(timelines) - set(case.scope.networks))
    results: list[DirectiveCheck] = []
    for event in case.directives:
        due = event.effective_from
        checks = []
        for network in networks:
            timeline = timelines.get(network)
            if timeline is None:
                checks.append(NetworkCompliance(network, "no data"))
            elif event.requires == "accessible":
                checks.append(_check_restore(con, timeline, due))
            else:
                checks.append(_check_block(con, timeline, due))
        results.append(
            DirectiveCheck(event, due, _overall(checks), checks, _statement(event, due, checks))
        )
    restorations = check_restorations(case, timelines, networks)
    return CaseCheck(case, detection, results, restorations)
