"""QUIC and throughput rules (reachwatch's own measurements carry them; OONI's do not)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reachwatch.classify._net import ip_version, is_probe_fault
from reachwatch.classify._rules import observe
from reachwatch.classify._transfer import Transfer, page_transfer, sample_transfer
from reachwatch.classify._view import View
from reachwatch.classify.verdicts import Observation

# Throttled: the probe's rate is this many times below the control's...
THROTTLE_RATIO = 10.0
# ...and below 1 Mbit/s: throttling seen in the wild runs at a few hundred kbit/s at most, far
# below any broadband link, and a probe's own slow access link must not read as censorship.
THROTTLED_BELOW = 125_000.0
# ...and steady: no single pause between arrivals holds this share of the timeline.
MAX_PAUSE_SHARE = 0.5


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
    """Was the page slowed down on the way? Judged from a transfer's own timeline (the page
    fetch's, else the throughput sample's) against the control's rate for the same resource.

    Only measurements that asked for throughput (reachwatch's probe and control) are judged:
    OONI's carry a timeline (network_events) but nothing from the control to compare it with.
    """
    sample = view.throughput
    reference = view.control.throughput if view.control else None
    if sample is None and reference is None:
        return []
    address = _text(sample, "address")
    failure = _text(sample, "failure")
    host = view.host

    def rule(name: str) -> list[Observation]:
        return [observe(name, host, address, technique="throttled", failure=failure)]

    transfer = _evidence([page_transfer(view.test_keys), sample_transfer(sample)])
    probe_rate = _rate_of(transfer, sample)
    if transfer is None or probe_rate is None:
        return rule("throughput.no_sample")
    control_rate = _reference_rate(reference)
    if control_rate is None:
        return rule("throughput.no_control")
    if probe_rate * THROTTLE_RATIO > control_rate or probe_rate > THROTTLED_BELOW:
        return rule("throughput.comparable")
    if not transfer.enough:
        return rule("throughput.too_short")
    if transfer.stalled:
        return rule("throughput.stalled")
    steady = _steady(transfer, control_rate)
    return rule("throughput.throttled_plateau" if steady else "throughput.slow_unsteady")


def _text(sample: Mapping[str, Any] | None, key: str) -> str | None:
    value = sample.get(key) if sample else None
    return value if isinstance(value, str) else None


def _evidence(transfers: list[Transfer | None]) -> Transfer | None:
    """The transfer to judge: the first with the minimum of evidence (the page fetch before
    the sample), else the one spanning the longest time."""
    found = [t for t in transfers if t is not None]
    for t in found:
        if t.enough:
            return t
    return max(found, key=lambda t: t.seconds) if found else None


def _rate_of(transfer: Transfer | None, sample: Mapping[str, Any] | None) -> float | None:
    """The transfer's rate, else the sample's bytes over its whole time (a page that came in one
    piece has no timeline to speak of)."""
    rate = transfer.rate if transfer is not None else None
    return rate if rate is not None else _whole_rate(sample)


def _reference_rate(reference: Mapping[str, Any] | None) -> float | None:
    """The control's rate for the resource: over its timeline when that holds the minimum of
    evidence, else its bytes over the whole exchange (connection set-up included: a lower
    bound, so that an uncertain reference makes the probe look comparable, never throttled)."""
    if not reference:
        return None
    whole = _whole_rate(reference)
    timeline = sample_transfer(dict(reference))
    if timeline is not None and timeline.enough and timeline.rate is not None:
        return max(timeline.rate, whole or 0.0)
    return whole


def _whole_rate(sample: Mapping[str, Any] | None) -> float | None:
    """Bytes per second of a whole sample, None when it failed before any data or is malformed."""
    if not sample:
        return None
    size, seconds = sample.get("bytes"), sample.get("seconds")
    if not isinstance(size, int | float) or not isinstance(seconds, int | float):
        return None
    if size <= 0 or seconds <= 0:
        return None
    return float(size) / float(seconds)


def _steady(transfer: Transfer, control_rate: float) -> bool:
    """Bytes kept coming slowly, rather than fast with a stall: no single pause holds half of
    the timeline, and the rate with the longest pause left out is still throttled. Over TLS a
    shaped link delivers whole records a second or so apart, and the shaper's drops cost
    retransmission pauses of seconds; a fast transfer that stalled once is fast without it."""
    gaps = [d for d, _ in transfer.intervals()]
    if not gaps:
        return False
    longest = max(gaps)
    if longest > MAX_PAUSE_SHARE * transfer.seconds:
        return False
    without = transfer.flow_bytes / (transfer.seconds - longest)
    return without * THROTTLE_RATIO <= control_rate and without <= THROTTLED_BELOW
