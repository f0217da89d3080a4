"""QUIC and throughput rules (reachwatch's own measurements carry them; OONI's do not).

The order in which the rules are tried is QUIC_ORDER and THROUGHPUT_ORDER at the end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from reachwatch.classify._net import ip_version, is_probe_fault
from reachwatch.classify._rules import Predicate, Step, always, first_match, observe
from reachwatch.classify._transfer import Transfer, page_transfer, sample_transfer
from reachwatch.classify._view import Quic, View
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
        c = _QuicCase(view, q)
        rule = first_match(QUIC_ORDER, c)
        if rule == "quic.handshake_ok":
            out.append(observe(rule, c.host, q.endpoint))
        else:
            out.append(
                observe(rule, c.host, q.endpoint, technique="quic.blocked", failure=q.failure)
            )
    return out


class _QuicCase:
    __slots__ = ("host", "q", "view")

    def __init__(self, view: View, q: Quic) -> None:
        self.view = view
        self.q = q
        self.host = q.server_name or view.host


class _QuicOk(Predicate[_QuicCase]):
    def holds(self, c: _QuicCase) -> bool:
        return c.q.failure is None


class _QuicProbeFault(Predicate[_QuicCase]):
    def holds(self, c: _QuicCase) -> bool:
        return is_probe_fault(c.q.failure or "")


class _QuicTamperedAddress(Predicate[_QuicCase]):
    def holds(self, c: _QuicCase) -> bool:
        return c.q.ip in c.view.tampered


class _QuicIpv6Unavailable(Predicate[_QuicCase]):
    def holds(self, c: _QuicCase) -> bool:
        return ip_version(c.q.ip) == 6 and not c.view.ipv6_capable


class _QuicNoControl(Predicate[_QuicCase]):
    def holds(self, c: _QuicCase) -> bool:
        control = c.view.control
        return control is None or c.q.endpoint not in control.quic


class _QuicControlOk(Predicate[_QuicCase]):
    def holds(self, c: _QuicCase) -> bool:
        control = c.view.control
        return control is not None and control.quic[c.q.endpoint][0]


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
    transfer = _evidence([page_transfer(view.test_keys), sample_transfer(sample)])
    c = _RateCase(transfer, _rate_of(transfer, sample), _reference_rate(reference))
    rule = first_match(THROUGHPUT_ORDER, c)
    address = _text(sample, "address")
    failure = _text(sample, "failure")
    return [observe(rule, view.host, address, technique="throttled", failure=failure)]


class _RateCase:
    """The transfer judged, its rate, and the control's rate for the same resource."""

    __slots__ = ("control_rate", "probe_rate", "transfer")

    def __init__(
        self, transfer: Transfer | None, probe_rate: float | None, control_rate: float | None
    ) -> None:
        self.transfer = transfer
        self.probe_rate = probe_rate
        self.control_rate = control_rate


class _NoSample(Predicate[_RateCase]):
    def holds(self, c: _RateCase) -> bool:
        return c.transfer is None or c.probe_rate is None


class _NoReference(Predicate[_RateCase]):
    def holds(self, c: _RateCase) -> bool:
        return c.control_rate is None


class _Comparable(Predicate[_RateCase]):
    def holds(self, c: _RateCase) -> bool:
        probe, control = c.probe_rate, c.control_rate
        assert probe is not None and control is not None  # the steps before rule these out
        return probe * THROTTLE_RATIO > control or probe > THROTTLED_BELOW


class _TooShort(Predicate[_RateCase]):
    def holds(self, c: _RateCase) -> bool:
        return c.transfer is not None and not c.transfer.enough


class _Stalled(Predicate[_RateCase]):
    def holds(self, c: _RateCase) -> bool:
        return c.transfer is not None and c.transfer.stalled


class _ThrottledPlateau(Predicate[_RateCase]):
    def holds(self, c: _RateCase) -> bool:
        transfer, control = c.transfer, c.control_rate
        return transfer is not None and control is not None and _steady(transfer, control)


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


QUIC_ORDER: Final[tuple[Step[_QuicCase], ...]] = (
    Step("quic.handshake_ok", _QuicOk()),
    Step("quic.probe_fault", _QuicProbeFault()),
    Step("quic.address_from_tampered_dns", _QuicTamperedAddress()),
    Step("quic.ipv6_unavailable", _QuicIpv6Unavailable()),
    Step("quic.no_control", _QuicNoControl()),
    Step("quic.fails_probe_only", _QuicControlOk()),
    # Many servers simply do not speak QUIC.
    Step("quic.fails_for_control_too", always),
)

# A rate is judged only against a reference; a slow one only on enough evidence, and only when
# bytes kept coming slowly (not fast with a stall).
THROUGHPUT_ORDER: Final[tuple[Step[_RateCase], ...]] = (
    Step("throughput.no_sample", _NoSample()),
    Step("throughput.no_control", _NoReference()),
    Step("throughput.comparable", _Comparable()),
    Step("throughput.too_short", _TooShort()),
    Step("throughput.stalled", _Stalled()),
    Step("throughput.throttled_plateau", _ThrottledPlateau()),
    Step("throughput.slow_unsteady", always),
)
