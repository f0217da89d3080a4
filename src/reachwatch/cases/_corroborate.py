"""Do the measurements show the restorations a case reports? Per network, on that UTC day."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reachwatch.cases._model import Case, Event
from reachwatch.detect import Period, Timeline


@dataclass(slots=True)
class RestorationCheck:
    event: Event
    seen: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)  # access back
    not_seen: list[str] = field(default_factory=list)  # blocked all that day
    no_data: list[str] = field(default_factory=list)

    @property
    def statement(self) -> str:
        head = f"restoration reported {self.event.date.isoformat()}"
        parts = [
            f"access back on {net} {a:%H:%M}-{b:%H:%M}" if b - a < timedelta(days=1)
            else f"accessible on {net}"
            for net, (a, b) in self.seen.items()
        ]  # fmt: skip
        if self.not_seen:
            parts.append(f"still blocked on {', '.join(self.not_seen)}")
        if self.no_data:
            parts.append(f"no measurements that day from {', '.join(self.no_data)}")
        return f"{head}: " + "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.event.date.isoformat(),
            "summary": self.event.summary,
            "statement": self.statement,
            "seen_on": {
                net: [a.strftime("%Y-%m-%dT%H:%M:%SZ"), b.strftime("%Y-%m-%dT%H:%M:%SZ")]
                for net, (a, b) in self.seen.items()
            },
            "still_blocked_on": self.not_seen,
            "no_data_from": self.no_data,
        }


def _span(p: Period, t: Timeline) -> tuple[datetime, datetime]:
    start = p.start.at if p.start else p.first
    end = p.end.at if p.end else (t.last_data or p.last)
    return start, end


def check_restorations(
    case: Case, timelines: dict[str, Timeline], networks: list[str]
) -> list[RestorationCheck]:
    out = []
    for event in case.events:
        if event.kind != "restoration":
            continue
        day = datetime(event.date.year, event.date.month, event.date.day)
        window = (day, day + timedelta(days=1))
        check = RestorationCheck(event)
        for network in networks:
            t = timelines.get(network)
            spans = [(p, *_span(p, t)) for p in t.periods] if t else []
            today = [(p, a, b) for p, a, b in spans if a < window[1] and b > window[0]]
            clear = [(a, b) for p, a, b in today if p.state == "clear"]
            # A period runs across the gaps inside it: a day wholly inside a gap had no
            # decisive measurement, and must not read as "still blocked".
            unmeasured = t is not None and any(
                g.start <= window[0] and (g.end is None or g.end >= window[1]) for g in t.gaps
            )
            if not today or unmeasured:
                check.no_data.append(network)
            elif clear:
                check.seen[network] = clear[0]
            else:
                check.not_seen.append(network)
        out.append(check)
    return out
