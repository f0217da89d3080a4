"""QUIC and throughput rules (reachwatch's own measurements carry them; OONI's do not)."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from reachwatch.classify._net import ip_version, is_probe_fault
from reachwatch.classify._rules import observe
from reachwatch.classify._view import View
from reachwatch.classify.verdicts import Observation

# Throttled: the probe's rate is this many times below the control's...
THROTTLE_RATIO = 10.0
# ...and steady: this share of the sampled time runs within a factor 2 of the average rate.
PLATEAU_SHARE = 0.7
MIN_INTERVALS = 3


def judge_quic(view: View) -> list[Observation]:
    out = []
    for q in view.quic:
        host = q.server_name or view.host
        if q.failure is None:
            out.append(observe("quic.handshake_ok", host, q.endpoint))
            continue
        if is_probe_fault(q.failure):
            rule = "quic.probe_fault"
        elif q.ip in view.tampered:
            rule = "quic.address_from_tampered_dns"
        elif ip_version(q.ip) == 6 and not view.ipv6_capable:
            rule = "quic.ipv6_unavailable"
        elif view.control is None or q.endpoint not in view.control.quic:
            rule = "quic.no_control"
        elif view.control.quic[q.endpoint][0]:
            rule = "quic.fails_probe_only"
        else:
            rule = "quic.fails_for_control_too"  # many servers simply do not speak QUIC
        out.append(observe(rule, host, q.endpoint, technique="quic.blocked", failure=q.failure))
    return out


def judge_throughput(view: View) -> list[Observation]:
    probe = view.throughput
    if probe is None:
        return []
    address = probe.get("address") if isinstance(probe.get("address"), str) else None
    failure = probe.get("failure") if isinstance(probe.get("failure"), str) else None
    host = view.host

    def rule(name: str) -> list[Observation]:
        return [observe(name, host, address, technique="throttled", failure=failure)]

    probe_rate = _rate(probe)
    if probe_rate is None:
        return rule("throughput.no_sample")
    control = view.control.throughput if view.control else None
    control_rate = _rate(control) if control is not None else None
    if control_rate is None or control_rate <= 0:
        return rule("throughput.no_control")
    if probe_rate * THROTTLE_RATIO > control_rate:
        return rule("throughput.comparable")
    intervals = _intervals(probe.get("samples"))
    if len(intervals) < MIN_INTERVALS:
        return rule("throughput.too_short")
    steady = _steady(intervals)
    return rule("throughput.throttled_plateau" if steady else "throughput.slow_unsteady")


def _rate(sample: Mapping[str, Any] | None) -> float | None:
    """Bytes per second of a sample, None when it failed before any data or is malformed."""
    if not sample:
        return None
    size, seconds = sample.get("bytes"), sample.get("seconds")
    if not isinstance(size, int | float) or not isinstance(seconds, int | float):
        return None
    if size <= 0 or seconds <= 0:
        return None
    return float(size) / float(seconds)


def _intervals(samples: Any) -> list[tuple[float, float]]:
    """(duration, bytes) between consecutive [t, cumulative_bytes] samples."""
    if not isinstance(samples, list):
        return []
    points = [
        (float(p[0]), float(p[1]))
        for p in samples
        if isinstance(p, list | tuple)
        and len(p) == 2
        and all(isinstance(v, int | float) for v in p)
    ]
    return [(t1 - t0, b1 - b0) for (t0, b0), (t1, b1) in pairwise(points) if t1 - t0 > 1e-6]


def _steady(intervals: list[tuple[float, float]]) -> bool:
    """A plateau: most of the time is spent near the average rate. A stall (a long empty
    interval amid fast ones) or a slow start that then runs fast is not one."""
    total_time = sum(d for d, _ in intervals)
    average = sum(b for _, b in intervals) / total_time
    if average <= 0:
        return False
    near = sum(d for d, b in intervals if average / 2 <= b / d <= average * 2)
    return near >= PLATEAU_SHARE * total_time
