"""One lab run: build the namespaces, run every scenario through `reachwatch probe`, tear down."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from reachwatch.catalog import Platform, load_catalog
from reachwatch.lab._plan import AUTHORITATIVE_DNS, CONTROL_ADDRESS, ISP_RESOLVER, AddressPlan
from reachwatch.lab._processes import NamespaceProcess, reachwatch_command
from reachwatch.lab._report import (
    HostResult,
    LabReport,
    ScenarioResult,
    blockpage_seen,
    doh_resolves,
    quic_ipv6,
)
from reachwatch.lab._scenario import Scenario
from reachwatch.lab._specs import Spec, internet_spec, isp_spec
from reachwatch.lab._system import CommandFailed, in_ns, require_lab_environment, run
from reachwatch.lab._topology import Topology
from reachwatch.lab.mechanisms import Setup
from reachwatch.lab.servers import LabPki
from reachwatch.net import url_host

PROBE_TIMEOUT = 240.0
Progress = Callable[[str], None]


def run_lab(
    scenarios: list[Scenario], *, platform: str = "x", progress: Progress | None = None
) -> LabReport:
    """Run `scenarios` in a fresh lab and score them; the lab is gone when this returns."""
    require_lab_environment()
    target = load_catalog().get(platform)
    say = progress or (lambda _message: None)
    started = time.monotonic()
    results: list[ScenarioResult] = []
    with _interrupt_on_sigterm(), LabSession(target) as session:
        lab_id = session.topology.lab_id
        say(f"lab {lab_id} is up")
        for scenario in scenarios:
            say(f"scenario {scenario.name}: {scenario.summary}")
            results.append(session.run_scenario(scenario))
    return LabReport(results, time.monotonic() - started, lab_id)


@contextlib.contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """SIGTERM tears the lab down like Ctrl-C does."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _uninterruptible() -> Iterator[None]:
    """SIGINT and SIGTERM are ignored inside (teardown takes seconds); restored after."""
    caught = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in caught}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class LabSession:
    """The built lab: namespaces, a PKI, the control, and one node per server namespace."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.plan = AddressPlan(platform)
        self.topology = Topology.fresh()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"reachwatch-{self.topology.lab_id}-"))
        self.pki = LabPki(self.workdir / "pki")
        self._nodes: dict[str, tuple[Spec, NamespaceProcess]] = {}
        self._control: NamespaceProcess | None = None
        self._runs = 0

    def __enter__(self) -> LabSession:
        try:
            self.topology.build(self.plan)
            self._control = NamespaceProcess(
                self.topology.internet,
                [
                    *reachwatch_command(),
                    *f"control serve --host {CONTROL_ADDRESS} --port 80".split(),
                    *f"--resolver {AUTHORITATIVE_DNS}:53 --allow-private".split(),
                    *("--ca-file", str(self.pki.ca_file)),
                ],
                ready_marker="listening",
                log=self.workdir / "control.log",
            )
            self._control.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        # A second Ctrl-C while tearing down would leave namespaces and processes behind.
        with _uninterruptible():
            for _spec, node in self._nodes.values():
                node.stop()
            self._nodes.clear()
            if self._control is not None:
                self._control.stop()
            self.topology.destroy()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def run_scenario(self, scenario: Scenario) -> ScenarioResult:
        started = time.monotonic()
        setup = Setup(self.plan, self.topology.isp_client_link)
        try:
            scenario.apply(setup)
            self._set_up(setup)
            document, measurements = self._probe(scenario.targets(self.platform))
        except (CommandFailed, ValueError) as exc:
            return self._failed(scenario, str(exc), started)
        finally:
            with contextlib.suppress(CommandFailed):
                self.topology.reset_censor()
        entries = {
            url_host(url := str(e.get("input", ""))) or url: e
            for e in document.get("measurements", [])
        }
        hosts = [
            self._score(scenario, host, entries.get(host), measurements)
            for host in dict.fromkeys([*self.plan.hosts, *entries])
        ]
        return ScenarioResult(scenario.name, scenario.summary, hosts, time.monotonic() - started)

    def _set_up(self, setup: Setup) -> None:
        """Servers for this scenario, then the censor's rules (after clearing the last ones)."""
        topology = self.topology
        self._node("internet", topology.internet, internet_spec(self.plan, setup, self.pki))
        self._node("isp", topology.isp, isp_spec(self.plan, setup, self.pki))
        topology.reset_censor()
        for rule in setup.iptables:
            run(in_ns(topology.isp, "iptables", *rule))
        for command in setup.tc:
            run(in_ns(topology.isp, "tc", *command))
        if setup.client_ipv6:
            topology.route_client_ipv6()
        for rule in setup.internet_rules:
            run(in_ns(topology.internet, "iptables", *rule))

    def _node(self, role: str, namespace: str, spec: Spec) -> None:
        """(Re)start a namespace's node unless it already runs this exact spec."""
        current = self._nodes.get(role)
        if current is not None and current[0] == spec:
            return
        if current is not None:
            current[1].stop()
            del self._nodes[role]
        path = self.workdir / f"{role}-{len(self._nodes)}-{self._runs}.json"
        path.write_bytes(orjson.dumps(spec))
        node = NamespaceProcess(
            namespace,
            [sys.executable, "-m", "reachwatch.lab.node", str(path)],
            ready_marker="ready",
            log=self.workdir / f"{role}.log",
        )
        node.start()
        self._nodes[role] = (spec, node)

    def _probe(self, targets: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        self._runs += 1
        out = self.workdir / f"probe-{self._runs}.jsonl"
        argv = in_ns(
            self.topology.client,
            *reachwatch_command(),
            "probe",
            *targets,
            "--control",
            self.plan.control_url,
            "--resolver",
            f"{ISP_RESOLVER}:53",
            "--doh",
            self.plan.doh_url,
            "--ca-file",
            str(self.pki.ca_file),
            "--out",
            str(out),
            "--json",
        )
        try:
            done = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"reachwatch probe ran longer than {PROBE_TIMEOUT:.0f}s") from None
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit status {done.returncode}"
            raise CommandFailed(f"reachwatch probe failed: {reason}")
        try:
            document = orjson.loads(done.stdout)
        except orjson.JSONDecodeError as exc:
            raise CommandFailed(f"reachwatch probe --json printed no JSON: {exc}") from None
        measurements: dict[str, dict[str, Any]] = {}
        if out.exists():
            for line in out.read_bytes().splitlines():
                if line.strip():
                    measurement = orjson.loads(line)
                    measurements[str(measurement.get("input"))] = measurement
        return document, measurements

    def _score(
        self,
        scenario: Scenario,
        host: str,
        entry: Mapping[str, Any] | None,
        measurements: Mapping[str, Any],
    ) -> HostResult:
        expected = scenario.expectation(host)
        if entry is None:  # the probe said nothing about this host: never counted right
            return HostResult(host, expected, "missing", None, {})
        url = str(entry.get("input", ""))
        measurement = measurements.get(url, entry)
        checks: dict[str, bool] = {}
        if "blockpage_seen" in scenario.checks:
            checks["blockpage_seen"] = blockpage_seen(measurement)
        if "quic_ipv6" in scenario.checks:
            checks["quic_ipv6"] = quic_ipv6(measurement)
        if "doh_resolves" in scenario.checks:
            truth = [self.plan.v4[host]] if host in self.plan.v4 else []
            checks["doh_resolves"] = doh_resolves(measurement, truth)
        return HostResult(
            host=host,
            expected=expected,
            verdict=str(entry.get("verdict")),
            technique=entry.get("technique"),
            measurement=measurement,
            checks=checks,
        )

    def _failed(self, scenario: Scenario, error: str, started: float) -> ScenarioResult:
        hosts = [
            HostResult(host, scenario.expectation(host), "error", None, {"error": error})
            for host in self.plan.hosts
        ]
        return ScenarioResult(
            scenario.name, scenario.summary, hosts, time.monotonic() - started, error
        )
