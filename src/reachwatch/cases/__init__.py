"""cases stage: legal timelines of suspensions (dated, sourced events) and the check of each
directive against the measurements."""

from reachwatch.cases._check import CaseCheck, DirectiveCheck, NetworkCompliance, check_case
from reachwatch.cases._corroborate import RestorationCheck
from reachwatch.cases._load import CaseError, load_case, parse_case, resolve_case, shipped_cases
from reachwatch.cases._model import (
    EVENT_KINDS,
    Case,
    Event,
    Scope,
    SimulatedSpell,
    Simulation,
    Source,
)

__all__ = [
    "EVENT_KINDS",
    "Case",
    "CaseCheck",
    "CaseError",
    "DirectiveCheck",
    "Event",
    "NetworkCompliance",
    "RestorationCheck",
    "Scope",
    "SimulatedSpell",
    "Simulation",
    "Source",
    "check_case",
    "load_case",
    "parse_case",
    "resolve_case",
    "shipped_cases",
]
