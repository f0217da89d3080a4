"""Scenario files, mechanisms, scoring and the node process: everything that needs no root."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from reachwatch.catalog import load_catalog
from reachwatch.lab import (
    HostResult,
    LabReport,
    ScenarioError,
    ScenarioResult,
    load_scenarios,
    parse_scenario,
)
from reachwatch.lab._plan import AddressPlan
from reachwatch.lab._report import blockpage_seen, doh_resolves, quic_ipv6
from reachwatch.lab._scenario import Expectation
from reachwatch.lab._specs import internet_spec
from reachwatch.lab.mechanisms import MECHANISMS, Setup, sni_match
from reachwatch.lab.servers import LabPki

ISSUE_TABLE = [
    "baseline",
    "dns.nxdomain",
    "dns.bogon",
    "dns.injected",
    "dns.timeout",
    "tcp.timeout",
    "tcp.reset",
    "tls.reset",
    "tls.timeout",
    "tls.mitm",
    "http.blockpage",
    "quic.blocked",
    "throttled",
    "throttled.large",
    "throttled.small",
    "server.down",
    "no.ipv6",
    "dns.poison.doh.ok",
    "redirect.tls.reset",
    "redirect.dns.nxdomain",
    "redirect.tcp.reset",
    "redirect.down",
    "quic.ipv6",
    "flaky.origin",
    "cdn.challenge",
    "dns.nonexistent.injected",
    "dns.nxdomain.rewritten",
    "control.offline",
    "dns.nonexistent.refused",
]
LAB_NETWORKS = ("198.18.", "198.19.", "fd72:6c61:6200:", "127.")


def plan() -> AddressPlan:
    return AddressPlan(load_catalog().get("x"))


def test_shipped_scenarios_are_the_issue_table() -> None:
    scenarios = load_scenarios()
    assert [s.name for s in scenarios] == ISSUE_TABLE
    never_blocked = {s.name: s.expect.verdict for s in scenarios}
    assert never_blocked["baseline"] == never_blocked["no.ipv6"] == "accessible"
    assert never_blocked["quic.ipv6"] == "accessible"
    assert never_blocked["server.down"] == never_blocked["redirect.down"] == "down"
    for scenario in scenarios:
        if scenario.expect.verdict == "blocked":
            assert scenario.expect.technique, scenario.name


def test_every_rule_names_only_lab_addresses() -> None:
    for scenario in load_scenarios():
        setup = Setup(plan(), "rwlab0000-ic")
        scenario.apply(setup)
        tokens = [token for rule in setup.iptables for token in rule]
        addresses = [t.split(":")[0] for t in tokens if t[:1].isdigit() and t.count(".") == 3]
        assert all(a.startswith(LAB_NETWORKS) for a in addresses), (scenario.name, addresses)
        forged = [a for answer in setup.resolver_forged.values() for a in answer]
        assert all(a.startswith(LAB_NETWORKS) for a in forged), scenario.name


def test_redirect_and_partial_outage_mechanisms(tmp_path: Path) -> None:
    from reachwatch.lab._specs import internet_spec
    from reachwatch.lab.servers import LabPki

    setup = Setup(plan(), "rwlab0000-ic")
    MECHANISMS["redirect"](setup, {"to": "https://x.com/"})
    MECHANISMS["servers_down"](setup, {"hosts": ["x.com"]})
    # Every host but the target redirects; only the target's servers are gone.
    assert setup.redirects == {host: "https://x.com/" for host in plan().hosts if host != "x.com"}
    assert setup.platform_servers and setup.down_hosts == {"x.com"}
    with pytest.raises(ValueError, match="redirect needs"):
        MECHANISMS["redirect"](setup, {"to": "x.com"})
    spec = internet_spec(plan(), setup, LabPki(tmp_path))
    web = [s for s in spec["servers"] if s["kind"] == "web"]
    assert plan().v4["x.com"] not in {s["host"] for s in web}
    assert web[0]["sites"]["t.co"] == {"redirect": {"hops": 1, "location": "https://x.com/"}}
    assert "page" in web[0]["sites"]["x.com"]


def test_sni_match_is_exact_thanks_to_the_length_prefix() -> None:
    assert sni_match("x.com").endswith("--hex-string |0005|x.com")
    assert "|000b|example.com" not in sni_match("x.com")


def test_mechanisms_fill_the_setup() -> None:
    setup = Setup(plan(), "rwlab0000-ic")
    MECHANISMS["throttle_sni"](setup, {"rate": "128kbit", "hosts": ["x.com", "t.co"]})
    assert any("CLASSIFY" in rule for rule in setup.iptables)
    assert sum(cmd[:2] == ["class", "add"] for cmd in setup.tc) == 3  # default + one per host
    MECHANISMS["resolver_nxdomain"](setup, {})
    assert setup.resolver_nxdomain == set(plan().hosts)


def test_page_size_changes_the_platform_pages_only(tmp_path: Path) -> None:
    setup = Setup(plan(), "rwlab0000-ic")
    MECHANISMS["page_size"](setup, {"bytes": 98304})
    pki = LabPki(tmp_path)
    pages = [
        site["page"]
        for server in internet_spec(plan(), setup, pki)["servers"]
        if server["kind"] == "web"
        for name, site in server["sites"].items()
        if name in plan().hosts
    ]
    assert pages and all(p["padding"] == 98304 and p["chunk_size"] == 0 for p in pages)


def test_server_side_mechanisms_fill_the_setup() -> None:
    setup = Setup(plan(), "rwlab0000-ic")
    MECHANISMS["flaky_origin"](setup, {"share": 0.5})
    MECHANISMS["cdn_challenge"](setup, {})
    MECHANISMS["names_gone"](setup, {"hosts": ["x.com"]})
    MECHANISMS["resolver_rewrite_nxdomain"](setup, {})
    MECHANISMS["control_offline"](setup, {})
    assert setup.reset_share == 0.5 and setup.challenge_clients == ["198.18.1.2/24"]
    assert setup.dead_names == {"x.com"} and setup.rewrite_nxdomain
    assert setup.internet_rules and setup.internet_rules[0][:2] == ["-A", "OUTPUT"]


def test_an_expectation_may_accept_several_verdicts_but_never_another_technique() -> None:
    doc = {"name": "n", "expect": {"verdict": ["accessible", "down"]}}
    expected = parse_scenario(doc, "f").expect
    assert expected.accepts("accessible", None) and expected.accepts("down", None)
    assert not expected.accepts("blocked", "tls.reset")
    assert not expected.accepts("accessible", "tls.reset")
    assert expected.label == "accessible|down"


def test_bad_scenario_files_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown mechanism"):
        parse_scenario({"name": "n", "expect": {"verdict": "blocked"}, "setup": [{"no": {}}]}, "f")
    with pytest.raises(ScenarioError, match="needs a verdict"):
        parse_scenario({"name": "n", "expect": {}}, "f")
    (tmp_path / "a.yaml").write_text("name: same\nexpect: {verdict: accessible}\n")
    (tmp_path / "b.yaml").write_text("name: same\nexpect: {verdict: accessible}\n")
    with pytest.raises(ScenarioError, match="share a name"):
        load_scenarios(tmp_path)


def test_per_host_exceptions_are_documented() -> None:
    doc = {
        "name": "n",
        "expect": {"verdict": "blocked", "technique": "tls.reset"},
        "hosts": {"t.co": {"verdict": "inconclusive", "why": "shared address"}},
    }
    scenario = parse_scenario(doc, "f")
    assert scenario.expectation("t.co") == Expectation("inconclusive", None, "shared address")
    assert scenario.expectation("x.com").technique == "tls.reset"


def _result(host: str, expected: Expectation, verdict: str, technique: str | None) -> HostResult:
    return HostResult(host, expected, verdict, technique, {"input": f"https://{host}/"})


def test_scoring_accuracy_and_confusion() -> None:
    blocked = Expectation("blocked", "tls.reset")
    report = LabReport(
        [
            ScenarioResult(
                "tls.reset",
                "",
                [
                    _result("x.com", blocked, "blocked", "tls.reset"),
                    _result("t.co", blocked, "blocked", "tcp.reset"),
                    _result("api.x.com", blocked, "inconclusive", None),
                ],
                1.0,
            )
        ],
        1.0,
    )
    doc = report.to_json()
    assert doc["accuracy"] == round(1 / 3, 4)
    assert doc["confusion_matrix"] == {
        "blocked:tls.reset": {"blocked:tls.reset": 1, "blocked:tcp.reset": 1, "inconclusive": 1}
    }
    host = doc["scenarios"][0]["hosts"][0]
    assert set(host) >= {
        "host",
        "expected_verdict",
        "expected_technique",
        "verdict",
        "technique",
        "measurement",
    }


def test_a_failed_check_is_never_counted_right() -> None:
    expected = Expectation("blocked", "dns.injected")
    result = HostResult("x.com", expected, "blocked", "dns.injected", {}, {"doh_resolves": False})
    assert not result.correct


def test_doh_resolves_reads_the_measurement() -> None:
    measurement = {
        "test_keys": {
            "queries": [
                {"engine": "udp", "failure": None, "answers": [{"ipv4": "198.18.3.1"}]},
                {"engine": "doh", "failure": None, "answers": [{"ipv4": "198.19.1.1"}]},
            ]
        }
    }
    assert doh_resolves(measurement, ["198.19.1.1"])
    assert not doh_resolves(measurement, ["198.19.1.2"])


def test_blockpage_seen_reads_the_responses() -> None:
    from reachwatch.lab.servers import BLOCKPAGE_TITLE

    def measurement(title: str | None) -> dict[str, Any]:
        response = {"x_title": title, "body": "<html></html>"}
        return {"test_keys": {"requests": [{"response": response}]}}

    assert blockpage_seen(measurement(BLOCKPAGE_TITLE))
    assert not blockpage_seen(measurement("x.com · X"))
    assert not blockpage_seen({"test_keys": {"requests": []}})


def test_lab_without_root_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from reachwatch.cli._app import app

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for args in (["lab", "run", "--scenario", "baseline"], ["lab", "clean"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 3
        assert result.output.strip().count("\n") == 0
        assert "needs root" in result.output


def test_unknown_scenario_is_one_line() -> None:
    from reachwatch.cli._app import app

    result = CliRunner().invoke(app, ["lab", "run", "--scenario", "nope"])
    assert result.exit_code == 2 and "no scenario named 'nope'" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["lab", "run", "--bogus"], "No such option '--bogus'. (see `reachwatch lab run --help`)"),
        (["lab", "nope"], "No such command 'nope'. (see `reachwatch lab --help`)"),
    ],
)
def test_bad_usage_is_one_line(args: list[str], message: str) -> None:
    from reachwatch.cli._app import app

    result = CliRunner().invoke(app, args, prog_name="reachwatch")
    assert result.exit_code == 2
    assert result.output.strip() == f"reachwatch: error: {message}"


def test_node_process_serves_and_exits_when_stdin_closes(tmp_path: Path) -> None:
    page = {"*": {"page": {"title": "T"}}}
    spec = {
        "servers": [
            {"kind": "dns", "host": "127.0.0.1", "port": 0, "zone": {"x.com": ["127.0.0.1"]}},
            {"kind": "web", "host": "127.0.0.1", "port": 0, "sites": page},
        ]
    }
    path = tmp_path / "spec.json"
    path.write_bytes(orjson.dumps(spec))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    node = subprocess.Popen(
        [sys.executable, "-m", "reachwatch.lab.node", str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert node.stdout is not None and node.stdin is not None
    assert node.stdout.readline().strip() == b"ready"
    node.stdin.close()
    assert node.wait(timeout=10) == 0


def test_node_reports_a_port_clash(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        spec = {"servers": [{"kind": "web", "host": "127.0.0.1", "port": port, "sites": {}}]}
        path = tmp_path / "spec.json"
        path.write_bytes(orjson.dumps(spec))
        done = subprocess.run(
            [sys.executable, "-m", "reachwatch.lab.node", str(path)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 1 and b"lab node:" in done.stderr


def test_teardown_ignores_a_second_ctrl_c() -> None:
    from reachwatch.lab._runner import _uninterruptible

    before = signal.getsignal(signal.SIGINT)
    with _uninterruptible():
        os.kill(os.getpid(), signal.SIGINT)  # would raise KeyboardInterrupt outside
        time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is before


def test_quic_ipv6_needs_handshakes_over_ipv6_that_worked_on_both_sides() -> None:
    def measurement(probe_failure: str | None, control_ok: bool) -> dict[str, Any]:
        v6 = "[fd72:6c61:6200::1]:443"
        return {
            "test_keys": {
                "x_quic_handshakes": [
                    {"address": "198.19.1.1:443", "failure": None},
                    {"address": v6, "failure": probe_failure},
                ],
                "control": {"quic_handshake": {v6: {"status": control_ok}}},
            }
        }

    assert quic_ipv6(measurement(None, True))
    assert not quic_ipv6(measurement("x_probe_fault: TypeError: 2-tuple is expected", True))
    assert not quic_ipv6(measurement(None, False))
    assert not quic_ipv6({"test_keys": {"x_quic_handshakes": [{"address": "198.19.1.1:443"}]}})
