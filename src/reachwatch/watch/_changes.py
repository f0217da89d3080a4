"""Which incidents are news: new ones, and ones that ended since they were last reported.

Detection is recomputed over the whole store every round, and more data can move an
incident's estimated start by an hour or two; so an incident is the same one as a reported
one when their spans overlap (an ongoing one reaching to the end of time), not when their
starts are equal. A reported incident keeps the id it was first reported under.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reachwatch.watch._state import KnownIncident

NEW, ENDED = "new", "ended"
_FAR = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # NEW or ENDED
    id: str
    incident: dict[str, Any]  # detect's incident_json


def _when(text: str | None) -> datetime:
    if text is None:
        return _FAR
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _overlap(a_start: str, a_end: str | None, b_start: str, b_end: str | None) -> bool:
    return _when(a_start) < _when(b_end) and _when(b_start) < _when(a_end)


def incident_id(incident: dict[str, Any]) -> str:
    start = _when(incident["start"]).strftime("%Y%m%dT%H%MZ")
    return f"{incident['cc']}-{incident['platform']}-{start}"


def changes(
    known: Sequence[KnownIncident], current: Sequence[dict[str, Any]]
) -> tuple[list[Change], list[KnownIncident]]:
    """The news in `current` (detect's incidents, in order of start) against what was reported,
    and what is known after reporting it.

    new: an incident not reported before, or one reported as ended that is ongoing again;
    ended: a reported ongoing incident that now has an end. One first seen already over (a
    first round over past data) is reported new, then ended. An incident reported before that
    detection no longer finds is forgotten without an event.
    """
    unmatched = list(known)
    events: list[Change] = []
    after: list[KnownIncident] = []
    for inc in sorted(current, key=lambda i: str(i["start"])):
        start, end = str(inc["start"]), inc["end"]
        candidates = [k for k in unmatched if _overlap(k.start, k.end, start, end)]
        if not candidates:
            new_id = incident_id(inc)
            events.append(Change(NEW, new_id, inc))
            if end is not None:
                events.append(Change(ENDED, new_id, inc))
            after.append(KnownIncident(new_id, start, end))
            continue
        match = min(candidates, key=lambda k: abs((_when(k.start) - _when(start)).total_seconds()))
        unmatched.remove(match)
        if match.end is None and end is not None:
            events.append(Change(ENDED, match.id, inc))
        elif match.end is not None and end is None:
            events.append(Change(NEW, match.id, inc))
        after.append(KnownIncident(match.id, start, end))
    return events, after
