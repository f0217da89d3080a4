"""The censorship lab for real: namespaces, iptables, tc, and `reachwatch probe` in the client.

These run only as root on Linux with iproute2 and iptables; otherwise they skip with the reason.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from reachwatch.catalog import load_catalog
from reachwatch.formats.reachwatch import validate_measurement
from reachwatch.lab import (
    LabReport,
    load_scenarios,
    parse_scenario,
    run_lab,
    select,
    unavailable_reason,
)
from reachwatch.lab._plan import CLIENT_ADDRESS, CONTROL_ADDRESS
from reachwatch.lab._runner import LabSession
from reachwatch.lab._system import in_ns, run
from reachwatch.lab._topology import NAME_PREFIX, Topology, clean_leftovers, list_namespaces
from reachwatch.lab.mechanisms import MECHANISMS, Setup

pytestmark = pytest.mark.lab

SCENARIOS = load_scenarios()


@pytest.fixture(scope="module", autouse=True)
def lab_environment() -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


def _host_state() -> tuple[str, str]:
    """The host's own interfaces and routes, which the lab must leave untouched."""
    links = run(["ip", "-o", "link", "show"])
    routes = run(["ip", "route", "show"]) + run(["ip", "-6", "route", "show"])
    return links, routes


def test_session_builds_and_leaves_nothing_behind() -> None:
    before = _host_state()
    with LabSession(load_catalog().get("x")) as session:
        names = {session.topology.client, session.topology.isp, session.topology.internet}
        assert names <= set(list_namespaces())
        # The client reaches the control through the isp, and nothing outside the lab.
        ping = in_ns(session.topology.client, "ip", "route", "get", CONTROL_ADDRESS)
        assert "via 198.18.1.1" in run(ping)
        assert _host_state() == before
        # `reachwatch lab clean` leaves a lab that is still running alone.
        assert not names & set(clean_leftovers())
        assert names <= set(list_namespaces())
    assert not names & set(list_namespaces())
    assert _host_state() == before


def test_clean_removes_a_leftover_lab() -> None:
    leftover = Topology.fresh()
    subprocess.run(["ip", "netns", "add", leftover.isp], check=True)
    removed = clean_leftovers()
    assert leftover.isp in removed
    assert leftover.isp not in list_namespaces()


@pytest.fixture(scope="module")
def report() -> LabReport:
    return run_lab(SCENARIOS)


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_scenario_verdicts(report: LabReport, name: str) -> None:
    (result,) = [s for s in report.scenarios if s.name == name]
    assert result.error is None, result.error
    assert {h.host for h in result.hosts} == {h.host for h in load_catalog().get("x").hosts}
    wrong = [
        f"{h.host}: expected {h.expected.label}, observed {h.observed_label} {dict(h.checks)}"
        for h in result.hosts
        if not h.correct
    ]
    assert not wrong, "\n".join(wrong)
    for host in result.hosts:  # what `reachwatch probe --out` wrote, line by line
        validate_measurement(host.measurement)
        assert host.measurement["probe_ip"] == "127.0.0.1"
        assert CLIENT_ADDRESS not in orjson.dumps(host.measurement).decode()


def test_never_blocked_where_nothing_is_censored(report: LabReport) -> None:
    for scenario in report.scenarios:
        if scenario.name in ("baseline", "server.down", "no.ipv6"):
            assert not [h.host for h in scenario.hosts if h.verdict == "blocked"], scenario.name


def test_lab_leaves_no_namespace(report: LabReport) -> None:
    assert report.lab_id.startswith(NAME_PREFIX)
    # Other labs may be running on this machine at the same time; this one must be gone.
    assert not [n for n in list_namespaces() if n.startswith(f"{report.lab_id}-")]


def test_a_broken_scenario_is_reported_and_the_rest_still_runs() -> None:
    def broken_rule(setup: Setup, params: Mapping[str, Any]) -> None:
        setup.rule("-A FORWARD -p tcp --no-such-option -j DROP")

    MECHANISMS["test_broken_rule"] = broken_rule
    try:
        broken = parse_scenario(
            {
                "name": "broken",
                "expect": {"verdict": "accessible"},
                "setup": [{"test_broken_rule": {}}],
            },
            "test",
        )
        report = run_lab([broken, *select(SCENARIOS, "tcp.reset")])
    finally:
        del MECHANISMS["test_broken_rule"]
    failed, fine = report.scenarios
    assert failed.error is not None and "iptables" in failed.error
    assert all(h.verdict == "error" and not h.correct for h in failed.hosts)
    assert fine.error is None and all(h.correct for h in fine.hosts)
    assert report.accuracy == 0.5
