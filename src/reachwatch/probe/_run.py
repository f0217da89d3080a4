"""A probe run: all targets measured concurrently, each measurement judged by `classify`."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from reachwatch.classify.verdicts import Classified
from reachwatch.probe import steps
from reachwatch.probe._engine import (
    ControlGate,
    ProbeOptions,
    Progress,
    TargetMeasurer,
    canary_name,
)
from reachwatch.probe._http import exchange
from reachwatch.probe._network import ipv6_capable, own_addresses, scrub
from reachwatch.probe._targets import Target

# DNS failures that mean "no resolver could be reached", as opposed to a resolver's answer.
_UNREACHED_DNS = {
    "generic_timeout_error",
    "network_unreachable",
    "network_down",
    "host_unreachable",
    "connection_refused",
    "connection_reset",
    "address_not_available",
    "dns_temporary_failure",
}


@dataclass(slots=True)
class ProbeRun:
    """Measurements (JSON lines, judged), their verdicts, and what the run found out about
    the network itself."""

    measurements: list[dict[str, Any]]
    verdicts: list[Classified]
    ipv6_capable: bool
    no_network: bool
    # Whether a control told the probe its public address, so a reflection of it was scrubbed.
    public_address_scrubbed: bool = False


async def probe(
    targets: Sequence[Target],
    options: ProbeOptions | None = None,
    *,
    progress: Progress | None = None,
    on_measurement: Callable[[dict[str, Any]], None] | None = None,
) -> ProbeRun:
    """Measure every target (concurrently, each step bounded) and judge each measurement.

    `on_measurement` gets each judged measurement as soon as it is complete, so a run that is
    interrupted keeps what it finished (the CLI appends each one to --out right away).
    """
    options = options or ProbeOptions()
    ipv6 = ipv6_capable()  # once per run: a network without IPv6 is not blocking IPv6
    slots = asyncio.Semaphore(options.concurrency)
    control = ControlGate(options.control_concurrency)
    # Addresses to scrub: this machine's global ones, and the public one the control sees (the
    # only way to learn it behind NAT); each control answer says it again, and is added.
    scrubbed = set(own_addresses(options.local_address))
    public: set[str] = set()
    if options.control_url is not None:
        public.update(await control_sees(options.control_url, options))
    canary = (
        asyncio.ensure_future(_canary(options, ipv6, slots)) if options.nxdomain_canary else None
    )

    async def measure(target: Target) -> tuple[dict[str, Any], Classified]:
        measurer = TargetMeasurer(
            target,
            options,
            ipv6=ipv6,
            slots=slots,
            control=control,
            progress=progress,
            canary=canary,
        )
        # The user's own address never leaves the machine, even where a server echoed it.
        raw = await measurer.measure()
        public.update(_reported_address(raw))
        measurement: dict[str, Any] = scrub(raw, sorted(scrubbed | public))
        annotations = measurement.setdefault("annotations", {})
        annotations["x_public_address_scrubbed"] = "true" if public else "false"
        verdict = judge(measurement)
        if on_measurement is not None:
            on_measurement(measurement)
        return measurement, verdict

    judged = await asyncio.gather(*(measure(target) for target in targets))
    measurements = [measurement for measurement, _ in judged]
    verdicts = [verdict for _, verdict in judged]
    return ProbeRun(measurements, verdicts, ipv6, is_no_network(measurements), bool(public))


async def _canary(
    options: ProbeOptions, ipv6: bool, slots: asyncio.Semaphore
) -> list[dict[str, Any]]:
    """Every resolver's answer for a random nonexistent name (x_nxdomain_canary)."""
    name = canary_name()
    return await TargetMeasurer(
        Target(f"http://{name}/"), options, ipv6=ipv6, slots=slots
    ).lookups()


async def check_control(
    control_url: str,
    *,
    local_address: str | None = None,
    timeout: float = 5.0,
    ca_file: str | None = None,
) -> str | None:
    """None when the control answers HTTP at all, else the OONI failure of reaching it.

    `ca_file` replaces the trust store, as it does for the control queries themselves.
    """
    result = await exchange(
        control_url,
        address=None,
        ssl_context=steps.make_ssl_context(ca_file),
        body_cap=4096,
        timeout=timeout,
        local_address=local_address,
    )
    if result.failure is not None and not result.status:
        return result.failure
    return None


async def control_sees(control_url: str, options: ProbeOptions) -> list[str]:
    """The address the control sees this probe come from ([] when it does not say)."""
    result = await exchange(
        control_url,
        address=None,
        ssl_context=steps.make_ssl_context(options.ca_file),
        body_cap=4096,
        timeout=min(options.control_timeout, 5.0),  # each answer says it again anyway
        local_address=options.local_address,
    )
    try:
        doc = orjson.loads(bytes(result.body)) if result.status == 200 else None
    except orjson.JSONDecodeError:
        return []
    return _valid_address(doc.get("client_address")) if isinstance(doc, dict) else []


def _reported_address(measurement: Mapping[str, Any]) -> list[str]:
    control = (measurement.get("test_keys") or {}).get("control")
    return _valid_address(control.get("x_client_address")) if isinstance(control, dict) else []


def _valid_address(value: Any) -> list[str]:
    """The address as a list of one, unless it is none, or one that names no one: a control on
    this very machine sees loopback, and scrubbing that would scrub the targets' addresses."""
    if not isinstance(value, str):
        return []
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return []
    if ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast:
        return []
    return [str(ip)]


def judge(measurement: dict[str, Any]) -> Classified:
    """Classify a measurement (the one source of verdicts) and record the verdict in it:
    test_keys.x_reachwatch and OONI's blocking/accessible."""
    from reachwatch.classify import InvalidMeasurement, classify, control_broken

    test_keys = measurement["test_keys"]
    try:
        broken = control_broken(test_keys)
    except InvalidMeasurement:
        broken = None  # judged below, as any malformed control answer
    if broken is not None:
        # Kept for the record, but no verdict may lean on it.
        test_keys["control_failure"] = f"x_control_broken: {broken}"
    try:
        verdict = classify(measurement)
    except InvalidMeasurement as exc:
        # Only the control's answer comes from outside: a malformed one is no control at all.
        if not test_keys.get("control"):
            raise
        test_keys["control"] = {}
        test_keys["control_failure"] = f"x_control_malformed: {exc}"
        verdict = classify(measurement)
    doc = verdict.to_json()
    test_keys["x_reachwatch"] = {key: doc[key] for key in ("verdict", "technique", "layers")}
    test_keys["blocking"], test_keys["accessible"] = ooni_summary(verdict)
    return verdict


def ooni_summary(verdict: Classified) -> tuple[str | bool | None, bool | None]:
    """OONI's (blocking, accessible) for a verdict."""
    if verdict.verdict == "accessible":
        return False, True
    if verdict.verdict == "down":
        return False, False
    if verdict.verdict != "blocked":
        return None, None
    layer = (verdict.technique or "").split(".")[0]
    blocking = {"dns": "dns", "tcp": "tcp_ip", "tls": "http-failure"}.get(layer)
    if verdict.technique in ("http.blockpage", "http.diff"):
        blocking = "http-diff"
    elif verdict.technique == "http.reset":
        blocking = "http-failure"
    # QUIC blocking and throttling have no OONI category: blocked, category unknown.
    return blocking, False


def is_no_network(measurements: Sequence[Mapping[str, Any]]) -> bool:
    """True when nothing answered at all: no resolver, no address, no control.

    A censor answers (NXDOMAIN, resets, blockpages); a machine without a network does not.
    """
    if not measurements:
        return False
    for measurement in measurements:
        keys = measurement["test_keys"]
        if not keys["control_failure"]:
            return False
        if any(q["failure"] not in _UNREACHED_DNS for q in keys["queries"]):
            return False
        if any(t["status"]["success"] for t in keys["tcp_connect"]):
            return False
    return True
