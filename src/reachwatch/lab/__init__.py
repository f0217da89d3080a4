"""The censorship lab: a censored network in a box, built from Linux network namespaces.

A `client` namespace runs `reachwatch probe` (the command users run); an `isp` namespace routes
and censors with real iptables rules, tc shaping and its own resolver; an `internet` namespace
holds the platform's servers, an authoritative resolver, a DoH resolver and the control. Each
scenario (a YAML file under scenarios/ naming mechanisms from `reachwatch.lab.mechanisms`) sets
the censor up; the lab compares the probe's verdict per host with the expected one.

    from reachwatch.lab import load_scenarios, run_lab, clean_leftovers, unavailable_reason
    report = run_lab(load_scenarios())          # needs root, Linux: else EnvironmentMissing
    report.to_json()                            # scenarios, confusion_matrix, accuracy
    clean_leftovers()                           # removes namespaces a killed lab left behind

The servers it runs are in `reachwatch.lab.servers`, usable on their own in tests.
"""

from reachwatch.lab._report import HostResult, LabReport, ScenarioResult
from reachwatch.lab._runner import run_lab
from reachwatch.lab._scenario import (
    Expectation,
    Scenario,
    ScenarioError,
    load_scenarios,
    parse_scenario,
    select,
)
from reachwatch.lab._system import require_lab_environment, unavailable_reason
from reachwatch.lab._topology import clean_leftovers

__all__ = [
    "Expectation",
    "HostResult",
    "LabReport",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "clean_leftovers",
    "load_scenarios",
    "parse_scenario",
    "require_lab_environment",
    "run_lab",
    "select",
    "unavailable_reason",
]
