"""DNS rules: is what the probe's resolvers answered the site's own addresses?

Judged per host and per resolver (system, plain UDP, DoH). Answers that differ from the
control's are blocking only with evidence that they are not the site's (a fingerprinted
address, a bogon, a blockpage or a wrong certificate behind them, an address the control
cannot use while its own work); answers in the same network, in a CDN, that pass TLS for the
name, or that behave for the control like its own, are not.

The order in which the rules are tried is DNS_ANSWERED_ORDER (the resolver gave addresses)
and DNS_FAILED_ORDER (it gave none) at the end of this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache
from typing import Final

from reachwatch.catalog import load_catalog, platform_for_host
from reachwatch.classify._fingerprints import Fingerprints, Match
from reachwatch.classify._net import (
    cdn_asns,
    endpoint_ip,
    ip_version,
    is_bogon,
    is_certificate_error,
    is_never_a_host,
    is_nxdomain,
    is_timeout,
)
from reachwatch.classify._rules import (
    NO_OBSERVATION,
    Predicate,
    Step,
    always,
    first_match,
    most_decisive,
    observe,
)
from reachwatch.classify._view import Query, View
from reachwatch.classify.verdicts import Observation

# Reasons a differing answer is still the site's, strongest first; a host's rule is the
# weakest reason any of its answers needed.
_REASONS = (
    "dns.tls_validated",
    "dns.same_asn",
    "dns.matches_doh",
    "dns.control_consistent",
    "dns.platform_asn",
    "dns.cdn_asn",
)


def judge_dns(view: View, fingerprints: Fingerprints) -> list[Observation]:
    """One observation per host; fills view.tampered with the addresses judged not the site's."""
    if not view.queries:
        return []
    by_host: dict[str, list[Query]] = defaultdict(list)
    for q in view.queries:
        by_host[q.hostname or view.host].append(q)
    # Blockpages can only come back over plain HTTP (TLS would have refused the server).
    blockpage_ips = {
        endpoint_ip(r.endpoint)
        for r in view.requests
        if r.endpoint
        and r.status
        and r.scheme == "http"
        and _is_blockpage(r.page_match(fingerprints))
    }
    out = []
    for host, queries in by_host.items():
        doh = {a for q in queries if q.is_doh for a in q.addrs}
        groups: dict[tuple[str, str], list[Query]] = defaultdict(list)
        for q in queries:
            groups[(q.engine, q.resolver)].append(q)
        judged = [
            (key[0] == "doh", obs)
            for key, group in groups.items()
            if (obs := _judge_resolver(view, fingerprints, host, group, doh, blockpage_ips))
            is not None
        ]
        # The user's own resolvers speak for the host; DoH only when nothing else was asked.
        local = [obs for is_doh, obs in judged if not is_doh] or [obs for _, obs in judged]
        if local:
            out.append(most_decisive(local))
    return out


def _judge_resolver(
    view: View,
    fps: Fingerprints,
    host: str,
    group: list[Query],
    doh: set[str],
    blockpage_ips: set[str],
) -> Observation | None:
    c = _Answers(view, fps, host, group, doh, blockpage_ips)
    if not c.addrs:
        c.failure = _failure(group)
        rule = first_match(DNS_FAILED_ORDER, c)
        if rule == NO_OBSERVATION:
            return None
        return observe(rule, host, technique=_FAILED_TECHNIQUES.get(rule), failure=c.failure)
    rule = first_match(DNS_ANSWERED_ORDER, c)
    # The step that fired kept the answers it judged not the site's.
    view.tampered.update(c.forged)
    if rule == "dns.fingerprint_address":
        # A fingerprint says the answer is not the site; where it points says how it was forged.
        bogon = any(is_bogon(a) for a in c.forged)
        return observe(rule, host, technique="dns.bogon" if bogon else "dns.injected")
    technique = _forged(c.forged, c.public_reference) if c.forged else None
    return observe(rule, host, technique=technique)


class _Answers:
    """One resolver's answers (or failure) for one host, against the control's and DoH's,
    and what the rules ask of them, each worked out once."""

    __slots__ = (
        "_bogons",
        "_canary",
        "_nonexistent",
        "_weakest",
        "addrs",
        "blockpage_ips",
        "control",
        "differing",
        "doh",
        "expected",
        "failure",
        "forged",
        "fps",
        "group",
        "host",
        "public_reference",
        "view",
    )

    def __init__(
        self,
        view: View,
        fps: Fingerprints,
        host: str,
        group: list[Query],
        doh: set[str],
        blockpage_ips: set[str],
    ) -> None:
        self.view = view
        self.fps = fps
        self.host = host
        self.group = group
        self.doh = doh
        self.blockpage_ips = blockpage_ips
        # Each query's addresses are already without repeats.
        self.addrs = group[0].addrs if len(group) == 1 else list(dict.fromkeys(_all_addrs(group)))
        self.control = view.control_for(host)  # a redirect hop's host has its own, when asked
        self.expected: set[str] = set()
        self.differing: list[str] = []
        self.public_reference = False
        if self.addrs:  # (the failure steps ask none of these)
            self.expected = set(self.control.dns_addrs) if self.control else set()
            self.differing = [a for a in self.addrs if a not in self.expected]
            # Loopback, unspecified and link-local answers are never a public site; private
            # ranges only betray tampering when the reference answers are public (labs and
            # intranets legitimately resolve to private space).
            self.public_reference = any(not is_bogon(a) for a in (*self.expected, *doh))
        self.failure = ""  # the failure that speaks for the queries, when they gave no address
        # The answers judged not the site's, kept by the step that fired.
        self.forged: list[str] = []
        self._canary: list[Query] | None = None
        self._bogons: list[str] | None = None
        self._weakest: str | None = None
        self._nonexistent: bool | None = None

    def canary(self) -> list[Query]:
        """The same resolver's answers for a random nonexistent name (the probe's canary)."""
        if self._canary is None:
            engine, resolver = self.group[0].engine, self.group[0].resolver
            self._canary = [
                q for q in self.view.canary if q.engine == engine and q.resolver == resolver
            ]
        return self._canary

    def bogons(self) -> list[str]:
        """The differing answers in reserved space (as _is_bogon_here judges them)."""
        if self._bogons is None:
            reference = self.public_reference
            self._bogons = [a for a in self.differing if _is_bogon_here(a, reference)]
        return self._bogons

    def weakest_reason(self) -> str:
        """The weakest reason any differing answer needed to be the site's; "" when one of
        them has none (or none differ)."""
        if self._weakest is None:
            view, host, doh, group = self.view, self.host, self.doh, self.group
            reasons = [_reason(view, host, a, doh, group) for a in self.differing]
            found = [r for r in reasons if r is not None]
            complete = bool(found) and len(found) == len(reasons)
            self._weakest = max(found, key=_REASONS.index) if complete else ""
        return self._weakest

    def nonexistent_yet_answered(self) -> bool:
        """See _nonexistent_yet_answered (worked out once: five steps ask)."""
        if self._nonexistent is None:
            self._nonexistent = _nonexistent_yet_answered(self)
        return self._nonexistent


def _failure(group: list[Query]) -> str:
    """The failure that speaks for a resolver's queries: the first of a non-AAAA query."""
    failures = [q.failure for q in group if q.failure]
    found = next((q.failure for q in group if q.failure and q.query_type != "AAAA"), None)
    return found or (failures[0] if failures else None) or ""


# --- answers ------------------------------------------------------------------------------


class _Fingerprinted(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        if c.fps.dns:
            c.forged = [a for a in c.addrs if c.fps.match_dns(a)]
        return bool(c.forged)


class _ServingBlockpages(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        c.forged = [a for a in c.differing if a in c.blockpage_ips]
        return bool(c.forged)


class _BogonWithReference(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        reference = c.public_reference or bool(c.expected) or bool(c.doh)
        return reference and _bogon_without_reference(c)


def _bogon_without_reference(c: _Answers) -> bool:
    c.forged = c.bogons()
    return bool(c.forged)


class _BogonWithoutReference(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        return _bogon_without_reference(c)


class _MatchesControl(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        control = c.control
        return (
            not c.differing and control is not None and not control.dns_failure and bool(c.expected)
        )


def _nonexistent_yet_answered(c: _Answers) -> bool:
    """The control says the name does not exist, yet this resolver answered it, with no
    address that passed TLS for the name or that DoH gives (those are the site's after all).
    A censor's resolver answers the names on its list; an ISP that rewrites NXDOMAIN answers
    every nonexistent name (its search page). The canary tells them apart; without one, a
    page served at the answer is taken for a search page, and anything else cannot tell."""
    control = c.control
    if control is None or c.expected or not _says_nonexistent(control.dns_failure):
        return False
    return not any(a in c.doh or _tls_validated(c.view, c.host, a) for a in c.differing)


class _CanaryRewritten(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        if not c.nonexistent_yet_answered():
            return False
        answers = set(c.differing)
        return any(a in answers for q in c.canary() for a in q.addrs)


class _CanaryNonexistent(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        if not c.nonexistent_yet_answered():
            return False
        canary = c.canary()
        rewritten = any(q.addrs for q in canary)
        if canary and not rewritten and any(_says_nonexistent(q.failure) for q in canary):
            c.forged = list(c.differing)
            return True
        return False


class _CanaryAsked(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        return c.nonexistent_yet_answered() and bool(c.canary())


class _NonexistentUnconfirmed(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        return c.nonexistent_yet_answered()


class _AnswerServedAPage(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        if not c.nonexistent_yet_answered():
            return False
        host, answers = c.host, c.differing
        return any(
            r.status > 0
            and r.host == host
            and (r.endpoint is None or endpoint_ip(r.endpoint) in answers)
            for r in c.view.requests
        )


class _ContradictedAnswers(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        c.forged = [a for a in c.differing if _contradicted(c.view, c.host, a)]
        return bool(c.forged)


class _WeakestReasonIs(Predicate[_Answers]):
    """Every differing answer has a reason to be the site's, and the weakest of them (a
    host's rule is the weakest reason any of its answers needed) is `reason`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def holds(self, c: _Answers) -> bool:
        return c.weakest_reason() == self.reason


class _NoControl(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        return c.control is None or not c.host


class _ControlFailed(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        control = c.control
        return control is not None and (bool(control.dns_failure) or not c.expected)


def _says_nonexistent(failure: str | None) -> bool:
    return failure is not None and (is_nxdomain(failure) or failure == "dns_no_answer")


def _tls_validated(view: View, host: str, ip: str) -> bool:
    return any(
        t.ip == ip and t.server_name == host and not t.decoy and t.verified and not t.failure
        for t in view.tls
    )


def _is_bogon_here(ip: str, public_reference: bool) -> bool:
    """A reserved answer where the reference answers (control, DoH) are public, or one that is
    never a host anywhere."""
    return is_never_a_host(ip) or (public_reference and is_bogon(ip))


def _forged(answers: list[str], public_reference: bool) -> str:
    """The technique of answers judged not the site's: `dns.bogon` when one of them points
    into reserved space, `dns.injected` when they look like a public address."""
    bogon = any(_is_bogon_here(a, public_reference) for a in answers)
    return "dns.bogon" if bogon else "dns.injected"


def _all_addrs(group: list[Query]) -> Iterator[str]:
    for q in group:
        yield from q.addrs


# --- failures -----------------------------------------------------------------------------

_FAILED_TECHNIQUES: Final = {
    "dns.nxdomain_probe_only": "dns.nxdomain",
    "dns.nxdomain_doh_ok": "dns.nxdomain",
    "dns.timeout_probe_only": "dns.timeout",
    "dns.timeout_doh_ok": "dns.timeout",
    "dns.no_answer_probe_only": "dns.nxdomain",
}


class _SaysNothing(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        """No failure, or only AAAA queries (an empty AAAA answer says nothing about blocking)."""
        return not c.failure or all(q.query_type == "AAAA" for q in c.group)


def _reached(c: _Answers) -> bool | None:
    """A redirect hop with no control of its own: did the control's fetch go through it?"""
    return c.view.hop_reached_by_control(c.host) if c.control is None else None


class _FailsForControlToo(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        control = c.control
        if control is not None:
            return bool(control.dns_failure) or not control.dns_addrs
        return _reached(c) is False


def _has_control(c: _Answers) -> bool:
    return c.control is not None or _reached(c) is True


class _NxdomainWithControl(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        return is_nxdomain(c.failure) and _has_control(c)


class _NxdomainDohOk(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        return is_nxdomain(c.failure) and bool(c.doh)


class _TimeoutWithControl(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        return is_timeout(c.failure) and _has_control(c)


class _TimeoutDohOk(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        return is_timeout(c.failure) and bool(c.doh)


class _NoAnswerWithControl(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        return c.failure == "dns_no_answer" and _has_control(c)


class _FailureWithReference(Predicate[_Answers]):
    def holds(self, c: _Answers) -> bool:
        return _has_control(c) or bool(c.doh)


def _is_blockpage(found: Match | None) -> bool:
    return found is not None and found.blocking


def _contradicted(view: View, host: str, ip: str) -> bool:
    """Evidence that an answer is not the site: a wrong certificate behind it, or the control
    cannot use it while its own addresses work."""
    own_tls_broken = _control_own(view, "tls") is False
    for t in view.tls:
        real = t.ip == ip and not t.decoy and t.server_name == host
        wrong_cert = t.failure and is_certificate_error(t.failure) and not t.dates_only
        if real and wrong_cert and not own_tls_broken:
            return True
    control = view.control
    if control is None or host != view.host:
        return False
    for layer, index in (("tcp", control.tcp_at), ("tls", control.tls_at)):
        at_ip = index.get(ip)
        family = ip_version(ip)
        if at_ip and not any(ok for ok, _ in at_ip) and _control_own(view, layer, family) is True:
            return True
    return False


def _control_own(view: View, layer: str, family: int = 0) -> bool | None:
    """Did the control's connections to its own addresses (of one IP family, when given)
    work? None: it made none. A control without IPv6 proves nothing about IPv6 answers."""
    control = view.control
    if control is None:
        return None
    index = control.tcp_at if layer == "tcp" else control.tls_at
    own = {a for a in control.dns_addrs if not family or ip_version(a) == family}
    results = [ok for a in own for ok, _ in index.get(a, ())]
    return any(results) if results else None


def _reason(view: View, host: str, ip: str, doh: set[str], group: list[Query]) -> str | None:
    """Why a differing answer is still the site's, or None."""
    if _tls_validated(view, host, ip):
        return "dns.tls_validated"
    control = view.control
    asns = control.asn if control else {}
    asn = asns.get(ip)
    if asn and control and asn in {asns.get(a) for a in control.dns_addrs}:
        return "dns.same_asn"
    if ip in doh and not any(q.is_doh for q in group):
        return "dns.matches_doh"
    if control is not None and host == view.host and _behaves_like_own(view, ip):
        return "dns.control_consistent"
    if asn and asn in _platform_asns(host):
        return "dns.platform_asn"
    if asn and asn in cdn_asns():
        return "dns.cdn_asn"
    return None


def _behaves_like_own(view: View, ip: str) -> bool:
    """The control reached this address and its TLS handshake there ended exactly as at the
    control's own addresses: from an unfiltered vantage point it is the same service."""
    control = view.control
    assert control is not None
    at_ip = control.tls_at.get(ip, [])
    at_own = {r for a in set(control.dns_addrs) for r in control.tls_at.get(a, ())}
    tcp_ok = any(ok for ok, _ in control.tcp_at.get(ip, ()))
    return tcp_ok and bool(at_ip) and bool(at_own) and set(at_ip) <= at_own


@lru_cache(maxsize=4096)
def _platform_asns(host: str) -> frozenset[int]:
    name = platform_for_host(host) if host else None
    return frozenset(load_catalog().get(name).asns) if name else frozenset()


# The resolver gave addresses: a fingerprint first, the control's agreement (every answer its
# own), evidence that differing answers are not the site's (a blockpage, reserved space), a
# name the control says does not exist, evidence against the answers, reasons they are the
# site's after all (the weakest reason any answer needed names the host's rule; at most one of
# these six holds), then what is missing to tell.
DNS_ANSWERED_ORDER: Final[tuple[Step[_Answers], ...]] = (
    Step("dns.fingerprint_address", _Fingerprinted()),
    Step("dns.matches_control", _MatchesControl()),
    Step("dns.answer_not_the_site", _ServingBlockpages()),
    Step("dns.bogon_probe_only", _BogonWithReference()),
    Step("dns.bogon_no_control", _BogonWithoutReference()),
    Step("dns.nxdomain_rewritten", _CanaryRewritten()),
    Step("dns.answer_for_nonexistent_name", _CanaryNonexistent()),
    Step("dns.nonexistent_answer_unconfirmed", _CanaryAsked()),
    Step("dns.control_nxdomain", _AnswerServedAPage()),
    Step("dns.nonexistent_answer_unconfirmed", _NonexistentUnconfirmed()),
    Step("dns.answer_not_the_site", _ContradictedAnswers()),
    Step("dns.cdn_asn", _WeakestReasonIs("dns.cdn_asn")),
    Step("dns.platform_asn", _WeakestReasonIs("dns.platform_asn")),
    Step("dns.control_consistent", _WeakestReasonIs("dns.control_consistent")),
    Step("dns.matches_doh", _WeakestReasonIs("dns.matches_doh")),
    Step("dns.same_asn", _WeakestReasonIs("dns.same_asn")),
    Step("dns.tls_validated", _WeakestReasonIs("dns.tls_validated")),
    Step("dns.no_control", _NoControl()),
    Step("dns.control_failed", _ControlFailed()),
    Step("dns.differs_unconfirmed", always),
)

# The resolver gave no address: nothing to judge, the control failed too, the failure against
# a reference (the control, else DoH's answers), then without one.
DNS_FAILED_ORDER: Final[tuple[Step[_Answers], ...]] = (
    Step(NO_OBSERVATION, _SaysNothing()),
    Step("dns.fails_for_control_too", _FailsForControlToo()),
    Step("dns.nxdomain_probe_only", _NxdomainWithControl()),
    Step("dns.nxdomain_doh_ok", _NxdomainDohOk()),
    Step("dns.timeout_probe_only", _TimeoutWithControl()),
    Step("dns.timeout_doh_ok", _TimeoutDohOk()),
    Step("dns.no_answer_probe_only", _NoAnswerWithControl()),
    Step("dns.failure_probe_only", _FailureWithReference()),
    Step("dns.no_control", always),
)
