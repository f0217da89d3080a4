"""A case: the scope of a suspension and its dated, sourced events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

EVENT_KINDS = (
    "context",  # background (an election, a protest)
    "observation",  # someone measured or reported reachability
    "order",  # an executive order to block or restore
    "letter",  # an official letter (often the order itself, surfaced later)
    "filing",  # a petition or submission to a court
    "court_directive",  # a court tells someone to do something, maybe by a deadline
    "government_statement",
    "platform_statement",
    "restoration",  # access reported back (possibly briefly)
)

# What following a directive means for the platform's reachability.
Requirement = Literal["blocked", "accessible"]


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    date: dt.date
    kind: str
    summary: str
    sources: tuple[Source, ...]
    id: str | None = None
    actor: str | None = None
    addressee: str | None = None
    requires: Requirement | None = None
    deadline: dt.date | None = None  # explicit, or date + within_days
    partial: bool = False
    label: str | None = None  # a few words for tables ("withdraw the letter within a week")

    @property
    def is_directive(self) -> bool:
        return self.requires is not None

    @property
    def effective_from(self) -> datetime:
        """When compliance is due: the end of the deadline day, or the start of the order's day
        when no deadline was set (an order without a deadline takes effect at once)."""
        if self.deadline is not None:
            return datetime(self.deadline.year, self.deadline.month, self.deadline.day) + timedelta(
                days=1
            )
        return datetime(self.date.year, self.date.month, self.date.day)


@dataclass(frozen=True, slots=True)
class Scope:
    cc: str
    platform: str
    networks: tuple[str, ...]
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SimulatedSpell:
    """A spell of the synthetic scenario: on `networks` (every network when empty)."""

    start: datetime
    end: datetime | None
    networks: tuple[str, ...] = ()
    technique: str | None = None

    def covers(self, network: str) -> bool:
        return not self.networks or network in self.networks


@dataclass(frozen=True, slots=True)
class Simulation:
    """Assumptions for a synthetic corpus of the case; never facts of the case."""

    start: date
    end: date
    measurements_per_hour: float = 2.0
    blocks: tuple[SimulatedSpell, ...] = ()
    restorations: tuple[SimulatedSpell, ...] = ()
    outages: tuple[SimulatedSpell, ...] = ()
    vanish: tuple[SimulatedSpell, ...] = ()


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    title: str
    scope: Scope
    events: tuple[Event, ...]
    simulation: Simulation | None = None
    path: str = field(default="", compare=False)

    @property
    def directives(self) -> list[Event]:
        return [e for e in self.events if e.is_directive]
