"""Every rule the classifier can fire, by id: its verdict and its (blocked, down, ok) weights.

The ids are data (stored in the observations table, shown by `classify --json`), so they live in
one table; the order in which rules are tried is data too: each layer's module ends with its
`ORDER`, a tuple of (rule id, predicate) steps applied first-match by `first_match`.
"""

from __future__ import annotations

from typing import Final, Generic, TypeVar, cast

from reachwatch.classify.verdicts import (
    Layer,
    LayerVerdict,
    LayerVerdictName,
    Loni,
    Observation,
)

_OK: Loni = (0.0, 0.0, 1.0)
_BLOCKED: Loni = (0.95, 0.0, 0.05)
_DOWN: Loni = (0.0, 0.9, 0.1)
_UNKNOWN: Loni = (0.0, 0.0, 0.0)

_FAILURE_KINDS = ("timeout", "reset", "refused", "unreachable", "certificate", "other")

RULES: dict[str, tuple[LayerVerdictName, Loni]] = {
    # dns
    "dns.matches_control": ("ok", _OK),
    "dns.same_asn": ("ok", (0.05, 0.0, 0.95)),
    "dns.tls_validated": ("ok", _OK),
    "dns.control_consistent": ("ok", (0.1, 0.0, 0.9)),
    "dns.platform_asn": ("ok", (0.1, 0.0, 0.9)),
    "dns.cdn_asn": ("ok", (0.2, 0.0, 0.8)),
    "dns.matches_doh": ("ok", (0.1, 0.0, 0.9)),
    "dns.fingerprint_address": ("blocked", (0.97, 0.0, 0.03)),
    "dns.answer_not_the_site": ("blocked", (0.85, 0.0, 0.15)),
    "dns.bogon_probe_only": ("blocked", _BLOCKED),
    "dns.bogon_no_control": ("inconclusive", (0.6, 0.0, 0.1)),
    "dns.nxdomain_probe_only": ("blocked", (0.9, 0.05, 0.05)),
    "dns.nxdomain_doh_ok": ("blocked", (0.8, 0.1, 0.1)),
    "dns.fetch_lookup_failed": ("blocked", (0.85, 0.05, 0.1)),
    "dns.timeout_probe_only": ("blocked", (0.8, 0.1, 0.1)),
    "dns.timeout_doh_ok": ("blocked", (0.75, 0.15, 0.1)),
    "dns.no_answer_probe_only": ("blocked", (0.7, 0.1, 0.2)),
    "dns.failure_probe_only": ("inconclusive", (0.6, 0.2, 0.2)),
    "dns.fails_for_control_too": ("down", _DOWN),
    "dns.control_nxdomain": ("down", (0.1, 0.8, 0.1)),
    "dns.nxdomain_rewritten": ("down", (0.05, 0.85, 0.1)),
    "dns.answer_for_nonexistent_name": ("blocked", (0.85, 0.1, 0.05)),
    "dns.nonexistent_answer_unconfirmed": ("inconclusive", (0.4, 0.4, 0.0)),
    "dns.control_failed": ("inconclusive", (0.2, 0.3, 0.3)),
    "dns.no_control": ("inconclusive", (0.3, 0.2, 0.3)),
    "dns.differs_unconfirmed": ("inconclusive", (0.4, 0.0, 0.4)),
    # tcp
    "tcp.connected": ("ok", _OK),
    "tcp.ipv6_unavailable": ("inconclusive", _UNKNOWN),
    "tcp.address_from_tampered_dns": ("inconclusive", (0.5, 0.0, 0.0)),
    "tcp.fails_for_control_too": ("down", _DOWN),
    "tcp.no_control_for_endpoint": ("inconclusive", (0.4, 0.3, 0.0)),
    "tcp.no_control": ("inconclusive", (0.4, 0.3, 0.0)),
    "tcp.app_reports_blocked": ("blocked", (0.8, 0.1, 0.1)),
    # The probe's own fault (x_probe_fault), not the network's: no evidence either way.
    "tcp.probe_fault": ("inconclusive", _UNKNOWN),
    # tls
    "tls.handshake_ok": ("ok", _OK),
    "tls.ipv6_unavailable": ("inconclusive", _UNKNOWN),
    "tls.address_from_tampered_dns": ("inconclusive", (0.5, 0.0, 0.0)),
    "tls.certificate_invalid_probe_only": ("blocked", (0.9, 0.0, 0.1)),
    # The control's handshake worked: the service is up; the probe's clock says nothing of the path.
    "tls.certificate_dates_probe_clock": ("inconclusive", (0.0, 0.0, 0.3)),
    # The same name got through at the same address in another connection: not name filtering.
    "tls.same_name_got_through": ("inconclusive", (0.1, 0.1, 0.5)),
    "tls.control_reset_alike": ("down", (0.05, 0.7, 0.25)),
    "tls.reset_after_hello_decoy_ok": ("blocked", (0.97, 0.0, 0.03)),
    "tls.timeout_decoy_ok": ("blocked", (0.9, 0.05, 0.05)),
    "tls.decoy_fails_too": ("blocked", (0.85, 0.1, 0.05)),
    "tls.reset_probe_only": ("blocked", (0.9, 0.05, 0.05)),
    "tls.timeout_probe_only": ("blocked", (0.85, 0.1, 0.05)),
    "tls.fails_for_control_too": ("down", _DOWN),
    "tls.no_control": ("inconclusive", (0.4, 0.3, 0.0)),
    "tls.app_reports_blocked": ("blocked", (0.8, 0.1, 0.1)),
    "tls.probe_fault": ("inconclusive", _UNKNOWN),
    # http
    "http.blockpage_fingerprint": ("blocked", (0.98, 0.0, 0.02)),
    "http.redirect_to_private_address": ("blocked", (0.9, 0.0, 0.1)),
    "http.tls_authenticated": ("ok", _OK),
    "http.matches_control": ("ok", (0.05, 0.0, 0.95)),
    "http.differs_from_control": ("blocked", (0.7, 0.1, 0.2)),
    "http.differs_weakly": ("inconclusive", (0.3, 0.0, 0.5)),
    # The site's own CDN challenged the client: the site answered, the page is behind a check.
    "http.cdn_challenge": ("inconclusive", (0.05, 0.05, 0.6)),
    "http.probe_fault": ("inconclusive", (0.2, 0.1, 0.1)),
    "http.failed_below_http": ("inconclusive", (0.3, 0.1, 0.0)),
    "http.reset_not_consistent": ("inconclusive", (0.1, 0.2, 0.3)),
    "http.fails_for_control_too": ("down", _DOWN),
    "http.control_failed": ("inconclusive", (0.1, 0.3, 0.4)),
    "http.no_control": ("inconclusive", (0.2, 0.1, 0.4)),
    "http.address_from_tampered_dns": ("inconclusive", (0.5, 0.0, 0.0)),
    "http.timeout_while_throttled": ("blocked", (0.8, 0.1, 0.1)),
    "http.app_reports_blocked": ("blocked", (0.8, 0.1, 0.1)),
    # The chain redirected to a host the measurement never fetched from.
    "http.redirect_not_followed": ("inconclusive", (0.1, 0.1, 0.1)),
    # quic
    "quic.handshake_ok": ("ok", _OK),
    "quic.fails_probe_only": ("blocked", (0.85, 0.05, 0.1)),
    "quic.fails_for_control_too": ("down", _DOWN),
    "quic.no_control": ("inconclusive", (0.3, 0.3, 0.0)),
    "quic.ipv6_unavailable": ("inconclusive", _UNKNOWN),
    "quic.address_from_tampered_dns": ("inconclusive", (0.5, 0.0, 0.0)),
    "quic.probe_fault": ("inconclusive", _UNKNOWN),
    # throughput
    "throughput.comparable": ("ok", _OK),
    "throughput.slow_unsteady": ("ok", (0.2, 0.0, 0.6)),
    "throughput.throttled_plateau": ("blocked", (0.85, 0.0, 0.15)),
    "throughput.no_sample": ("inconclusive", _UNKNOWN),
    "throughput.no_control": ("inconclusive", _UNKNOWN),
    "throughput.too_short": ("inconclusive", (0.2, 0.0, 0.2)),
    "throughput.stalled": ("inconclusive", (0.1, 0.1, 0.1)),
    # Satellite (Censored Planet DNS scans)
    "dns.sat_answer_matches_control": ("ok", _OK),
    "dns.sat_bogon": ("blocked", _BLOCKED),
    "dns.sat_fingerprint_address": ("blocked", (0.97, 0.0, 0.03)),
    "dns.sat_nxdomain": ("blocked", (0.8, 0.1, 0.1)),
    "dns.sat_no_response": ("inconclusive", (0.2, 0.2, 0.0)),
    "dns.sat_rcode_error": ("inconclusive", (0.4, 0.2, 0.0)),
    "dns.sat_resolver_unreliable": ("inconclusive", _UNKNOWN),
    "dns.sat_answer_unconfirmed": ("inconclusive", (0.4, 0.0, 0.3)),
    "dns.sat_answer_is_resolver": ("blocked", (0.8, 0.0, 0.2)),
    "dns.sat_blockpage_at_answer": ("blocked", (0.95, 0.0, 0.05)),
    "dns.sat_false_positive_at_answer": ("ok", (0.1, 0.1, 0.7)),
    "dns.sat_page_unconfirmed": ("inconclusive", (0.3, 0.1, 0.2)),
}

# A failure where the control got through, by kind. A certificate failure cannot happen in a
# TCP connect (judged as "other" there); the http layer calls "other" and certificate failures
# of the fetch a probe fault (http.probe_fault) instead.
for _kind in _FAILURE_KINDS:
    if _kind != "certificate":
        RULES[f"tcp.{_kind}_probe_only"] = ("blocked", (0.9, 0.05, 0.05))
    if _kind not in ("certificate", "other"):
        RULES[f"http.{_kind}_probe_only"] = ("blocked", (0.8, 0.1, 0.1))

# Hyperquack (Censored Planet echo/discard/http on the http layer, https on the tls layer).
for _layer in ("http", "tls"):
    RULES[f"{_layer}.cp_matches_template"] = ("ok", _OK)
    RULES[f"{_layer}.cp_intermittent"] = ("ok", (0.2, 0.0, 0.7))
    RULES[f"{_layer}.cp_blockpage_signature"] = ("blocked", (0.97, 0.0, 0.03))
    RULES[f"{_layer}.cp_false_positive_signature"] = ("ok", (0.1, 0.1, 0.7))
    RULES[f"{_layer}.cp_reset_after_keyword"] = ("blocked", (0.85, 0.05, 0.1))
    RULES[f"{_layer}.cp_timeout_after_keyword"] = ("blocked", (0.75, 0.15, 0.1))
    RULES[f"{_layer}.cp_anomaly_unconfirmed"] = ("inconclusive", (0.5, 0.1, 0.1))
    RULES[f"{_layer}.cp_controls_failed"] = ("inconclusive", _UNKNOWN)


# A step of a layer's order: the rule id it fires, and the predicate over the layer's case that
# makes it fire. A step that fires NO_OBSERVATION leaves the judgement to another layer.
Case = TypeVar("Case", contravariant=True)
NO_OBSERVATION: Final = "-"


class Predicate(Generic[Case]):
    """A named condition over a layer's case: each is a small subclass whose `holds` says it.
    (Classes, not functions: compiled, a method of a known class is called directly, where a
    function taken from a tuple goes through Python's generic call path.)"""

    def holds(self, case: Case) -> bool:
        raise NotImplementedError


class _Always(Predicate[object]):
    def holds(self, case: object) -> bool:
        return True


# The last step of an order: what fires when nothing before it did.
always: Final[Predicate[object]] = _Always()


class Step(Generic[Case]):
    """A step of an order: the rule id `rule` fires when `predicate` holds. (A class of its own
    rather than a pair: compiled, reading a step's two fields needs no per-step type check.)"""

    __slots__ = ("predicate", "rule")

    def __init__(self, rule: str, predicate: Predicate[Case]) -> None:
        self.rule = rule
        self.predicate = predicate


def first_match(order: tuple[Step[Case], ...], case: Case) -> str:
    """The rule id of the first step whose predicate holds for `case`."""
    for step in order:
        if step.predicate.holds(case):
            return step.rule
    # Every order ends with `always`: reaching here is a programming error.
    raise RuntimeError("a rule order ran out of steps")


# What each rule records, resolved once: (layer, verdict, loni, whether it is blocking).
_OBSERVED: dict[str, tuple[Layer, LayerVerdictName, Loni, bool]] = {}


def _observed(rule: str) -> tuple[Layer, LayerVerdictName, Loni, bool]:
    try:
        verdict, loni = RULES[rule]
    except KeyError:
        # A programming error, never a malformed measurement: must not look like one.
        raise RuntimeError(f"rule {rule!r} is not in RULES") from None
    layer = cast(Layer, rule.split(".", 1)[0])
    found = _OBSERVED[rule] = (layer, verdict, loni, verdict == "blocked")
    return found


def observe(
    rule: str,
    host: str,
    address: str | None = None,
    *,
    technique: str | None = None,
    failure: str | None = None,
) -> Observation:
    """An observation judged by `rule` (the layer is the rule id's first word)."""
    layer, verdict, loni, blocking = _OBSERVED.get(rule) or _observed(rule)
    return Observation(
        host, address, layer, verdict, rule, loni, technique if blocking else None, failure
    )


# Which observation speaks for a layer: a blocked one, else an ok one (the service answered),
# else one that failed everywhere, else one that cannot tell.
_PRIORITY = {"blocked": 0, "ok": 1, "down": 2, "inconclusive": 3}


def most_decisive(observations: list[Observation]) -> Observation:
    """The observation that speaks for a group (at least one): the first of the highest
    priority, as min() would pick it."""
    best = observations[0]
    if len(observations) == 1:
        return best
    rank = _PRIORITY[best.verdict]
    for o in observations:
        r = _PRIORITY[o.verdict]
        if r < rank:
            best, rank = o, r
            if r == 0:
                break
    return best


# Layer verdicts are immutable and a rule gives few distinct ones: each is built once.
_LAYER_VERDICTS: dict[tuple[str, str | None], LayerVerdict] = {}


def layer_verdict(observations: list[Observation]) -> LayerVerdict:
    """The verdict of one layer from its observations (at least one)."""
    best = most_decisive(observations)
    key = (best.rule, best.technique)
    found = _LAYER_VERDICTS.get(key)
    if found is None:
        found = LayerVerdict(best.verdict, best.rule, best.loni, best.technique)
        if len(_LAYER_VERDICTS) < 4096:  # techniques are a closed vocabulary; stay bounded
            _LAYER_VERDICTS[key] = found
    return found
