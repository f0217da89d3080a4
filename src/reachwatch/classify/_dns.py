"""DNS rules: is what the probe's resolvers answered the site's own addresses?

Judged per host and per resolver (system, plain UDP, DoH). Answers that differ from the
control's are blocking only with evidence that they are not the site's (a fingerprinted
address, a bogon, a blockpage or a wrong certificate behind them, an address the control
cannot use while its own work); answers in the same network, in a CDN, that pass TLS for the
name, or that behave for the control like its own, are not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache

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
from reachwatch.classify._rules import most_decisive, observe
from reachwatch.classify._view import Control, Query, View
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
    # Each query's addresses are already without repeats.
    addrs = group[0].addrs if len(group) == 1 else list(dict.fromkeys(_all_addrs(group)))
    control = view.control_for(host)  # a redirect hop's host has its own, when asked
    if not addrs:
        return _judge_failure(view, host, group, doh, control)
    fingerprinted = [a for a in addrs if fps.match_dns(a)] if fps.dns else []
    if fingerprinted:
        view.tampered.update(fingerprinted)
        # A fingerprint says the answer is not the site; where it points says how it was forged.
        technique = "dns.bogon" if any(is_bogon(a) for a in fingerprinted) else "dns.injected"
        return observe("dns.fingerprint_address", host, technique=technique)
    expected = set(control.dns_addrs) if control else set()
    differing = [a for a in addrs if a not in expected]
    # Loopback, unspecified and link-local answers are never a public site; private ranges
    # only betray tampering when the reference answers are public (labs and intranets
    # legitimately resolve to private space).
    public_reference = any(not is_bogon(a) for a in (*expected, *doh))
    if differing:  # (else nothing below but the control's match can fire)
        serving_blockpages = [a for a in differing if a in blockpage_ips]
        if serving_blockpages:
            view.tampered.update(serving_blockpages)
            technique = _forged(serving_blockpages, public_reference)
            return observe("dns.answer_not_the_site", host, technique=technique)
        bogons = [a for a in differing if _is_bogon_here(a, public_reference)]
        if bogons:
            view.tampered.update(bogons)
            reference = public_reference or bool(expected) or bool(doh)
            rule = "dns.bogon_probe_only" if reference else "dns.bogon_no_control"
            return observe(rule, host, technique="dns.bogon")
    elif control is not None and not control.dns_failure and expected:
        return observe("dns.matches_control", host)
    if control is not None and not expected and _says_nonexistent(control.dns_failure):
        judged = _answer_for_nonexistent(view, host, group, differing, doh, public_reference)
        if judged is not None:
            return judged
    contradicted = [a for a in differing if _contradicted(view, host, a)]
    if contradicted:
        view.tampered.update(contradicted)
        technique = _forged(contradicted, public_reference)
        return observe("dns.answer_not_the_site", host, technique=technique)
    reasons = [_reason(view, host, a, doh, group) for a in differing]
    found = [r for r in reasons if r is not None]
    if found and len(found) == len(reasons):
        return observe(max(found, key=_REASONS.index), host)
    if control is None or not host:
        return observe("dns.no_control", host)
    if control.dns_failure or not expected:
        return observe("dns.control_failed", host)
    return observe("dns.differs_unconfirmed", host)


def _says_nonexistent(failure: str | None) -> bool:
    return failure is not None and (is_nxdomain(failure) or failure == "dns_no_answer")


def _answer_for_nonexistent(
    view: View,
    host: str,
    group: list[Query],
    answers: list[str],
    doh: set[str],
    public_reference: bool,
) -> Observation | None:
    """The control says the name does not exist, yet this resolver answered it. A censor's
    resolver answers the names on its list; an ISP that rewrites NXDOMAIN answers every
    nonexistent name (its search page). The probe's canary (a random nonexistent name asked
    of the same resolver) tells them apart; without one, a page served at the answer is taken
    for a search page (`down`) and anything else cannot tell. None: the answer is the site's
    after all (it passed TLS for the name, or DoH gives it)."""
    if any(a in doh or _tls_validated(view, host, a) for a in answers):
        return None
    engine, resolver = group[0].engine, group[0].resolver
    canary = [q for q in view.canary if q.engine == engine and q.resolver == resolver]
    if canary:
        rewritten = {a for q in canary for a in q.addrs}
        if rewritten & set(answers):
            return observe("dns.nxdomain_rewritten", host)
        if not rewritten and any(_says_nonexistent(q.failure) for q in canary):
            view.tampered.update(answers)
            technique = _forged(answers, public_reference)
            return observe("dns.answer_for_nonexistent_name", host, technique=technique)
        return observe("dns.nonexistent_answer_unconfirmed", host)
    served = any(
        r.status > 0
        and r.host == host
        and (r.endpoint is None or endpoint_ip(r.endpoint) in answers)
        for r in view.requests
    )
    if served:
        return observe("dns.control_nxdomain", host)
    return observe("dns.nonexistent_answer_unconfirmed", host)


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


def _judge_failure(
    view: View, host: str, group: list[Query], doh: set[str], control: Control | None
) -> Observation | None:
    failures = [q.failure for q in group if q.failure]
    if not failures or all(q.query_type == "AAAA" for q in group):
        return None  # an empty AAAA answer says nothing about blocking
    failure = next((q.failure for q in group if q.failure and q.query_type != "AAAA"), failures[0])
    assert failure is not None
    # A redirect hop with no control of its own: the control's fetch went through its host.
    reached = view.hop_reached_by_control(host) if control is None else None
    if reached is False or (control is not None and (control.dns_failure or not control.dns_addrs)):
        return observe("dns.fails_for_control_too", host, failure=failure)
    has_control = control is not None or reached is True
    reference = "probe_only" if has_control else ("doh_ok" if doh else "")
    if is_nxdomain(failure) and reference:
        return observe(f"dns.nxdomain_{reference}", host, technique="dns.nxdomain", failure=failure)
    if is_timeout(failure) and reference:
        return observe(f"dns.timeout_{reference}", host, technique="dns.timeout", failure=failure)
    if failure == "dns_no_answer" and has_control:
        return observe("dns.no_answer_probe_only", host, technique="dns.nxdomain", failure=failure)
    if reference:
        return observe("dns.failure_probe_only", host, failure=failure)
    return observe("dns.no_control", host, failure=failure)


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
