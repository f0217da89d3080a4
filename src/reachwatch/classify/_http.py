"""HTTP rules: was the page the site's? A blockpage fingerprint on a plain-HTTP response (TLS
makes injected pages impossible), a redirect into private address space, a failure after the
connection was up, or a page unlike the control's.

The order in which the rules are tried is HTTP_PAGE_ORDER (a response came) and
HTTP_FAILED_ORDER (the fetch failed) at the end of this module."""

from __future__ import annotations

from typing import Final
from urllib.parse import urljoin

from reachwatch.classify._fingerprints import Fingerprints
from reachwatch.classify._net import (
    endpoint_ip,
    failure_kind,
    is_bogon,
    is_certificate_error,
    is_nxdomain,
    is_probe_fault,
    is_reset,
    is_timeout,
)
from reachwatch.classify._rules import NO_OBSERVATION, Predicate, Step, always, first_match, observe
from reachwatch.classify._transport import control_reset_too, control_tls, name_got_through
from reachwatch.classify._view import ControlHttp, Request, View, url_port, url_scheme_host
from reachwatch.classify.verdicts import Observation
from reachwatch.net import url_host

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

# Lookup failures that mean "this name has no address here" (Android's resolver reports a
# negative answer as android_dns_cache_no_data).
_NO_DATA = ("dns_no_answer", "android_dns_cache_no_data")


def judge_http(view: View, fps: Fingerprints) -> list[Observation]:
    """At most one observation for the fetched page (and one for TLS when the measurement
    recorded no handshakes and the fetch failed in TLS)."""
    if not view.requests:
        return []
    c = _HttpCase(view, fps)
    if c.final.failure is not None:
        rule = first_match(HTTP_FAILED_ORDER, c)
        if rule not in _BLOCKPAGE_RULES:  # (a blockpage earlier in the chain: no failure)
            return [observe(rule, c.host, technique=_failed_technique(c, rule), failure=c.failure)]
    else:
        rule = first_match(HTTP_PAGE_ORDER, c)
    if rule == NO_OBSERVATION:
        return []
    if rule == "http.redirect_not_followed":
        return [observe(rule, c.following or c.host)]
    return [observe(rule, c.host, technique=_PAGE_TECHNIQUES.get(rule))]


class _HttpCase:
    """The fetch of the page (the final request of the chain) and what the rules ask of it,
    each worked out once."""

    __slots__ = (
        "_blockpage",
        "_blockpage_known",
        "_fetch",
        "_fetch_known",
        "_in_connect",
        "_in_tls",
        "_kind",
        "_likeness",
        "_tls_unrecorded",
        "failure",
        "final",
        "following",
        "fps",
        "host",
        "in_lookup",
        "view",
    )

    def __init__(self, view: View, fps: Fingerprints) -> None:
        self.view = view
        self.fps = fps
        self.final = view.requests[0]
        self.host = self.final.host or view.host
        self.failure = self.final.failure or ""
        # The fetch failed in its own lookup.
        self.in_lookup = self.final.failure is not None and self.failure.startswith(
            ("dns_", "android_dns")
        )
        self.following = redirect_host(self.final)
        self._blockpage: str | None = None
        self._blockpage_known = False
        self._fetch: ControlHttp | None = None
        self._fetch_known = False
        self._likeness: tuple[bool, bool, bool, float | None] | None = None
        self._tls_unrecorded: bool | None = None
        self._in_connect: bool | None = None
        self._in_tls: bool | None = None
        self._kind: str | None = None

    def blockpage(self) -> str | None:
        """The rule the first response a middlebox could have written fires, if any."""
        if not self._blockpage_known:
            for r in self.view.requests:
                self._blockpage = _blockpage(self.view, self.fps, r)
                if self._blockpage is not None:
                    break
            self._blockpage_known = True
        return self._blockpage

    def control_fetch(self) -> ControlHttp | None:
        if not self._fetch_known:
            self._fetch = _control_fetch(self.view, self.host)
            self._fetch_known = True
        return self._fetch

    def kind(self) -> str:
        """How the fetch failed (net.failure_kind); asked only of a failed fetch."""
        if self._kind is None:
            self._kind = failure_kind(self.failure)
        return self._kind

    def in_connect(self) -> bool:
        """The fetch failed in its TCP connect (every attempt to its endpoint failed)."""
        if self._in_connect is None:
            self._in_connect = _failed_in_connect(self.view, self.final)
        return self._in_connect

    def in_tls(self) -> bool:
        """An HTTPS fetch that failed in its TLS handshake."""
        if self._in_tls is None:
            final = self.final
            self._in_tls = final.scheme == "https" and _failed_in_tls(self.view, final)
        return self._in_tls

    def tls_unrecorded(self) -> bool:
        """The fetch failed in a TLS handshake the measurement recorded no handshake for (else
        the TLS layer judged it from the handshakes themselves)."""
        if self._tls_unrecorded is None:
            host = self.final.host
            self._tls_unrecorded = (
                not _lookup_failed(self)
                and not self.in_connect()
                and self.in_tls()
                and not any(t.server_name == host for t in self.view.tls)
            )
        return self._tls_unrecorded

    def likeness(self) -> tuple[bool, bool, bool, float | None]:
        """(same status, titles match, both titled, body length proportion) against the
        control's page."""
        if self._likeness is None:
            control = self.view.control.http if self.view.control else None
            assert control is not None  # the page steps rule out a missing control first
            final = self.final
            self._likeness = (
                final.status == control.status,
                _titles_match(final.title or "", control.title),
                bool(final.title) and bool(control.title),
                _proportion(final, control),
            )
        return self._likeness


_BLOCKPAGE_RULES: Final = ("http.blockpage_fingerprint", "http.redirect_to_private_address")
_PAGE_TECHNIQUES: Final = {
    "http.blockpage_fingerprint": "http.blockpage",
    "http.redirect_to_private_address": "http.blockpage",
    "http.differs_from_control": "http.diff",
}


class _BlockpageFingerprint(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return c.blockpage() == "http.blockpage_fingerprint"


class _RedirectToPrivateAddress(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return c.blockpage() == "http.redirect_to_private_address"


class _HopFailedBelow(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        """The chain redirected to a host and no request followed, and that host's own steps
        (DNS, TCP, TLS) failed: they say why, and speak for the page."""
        host = c.following
        if host is None:
            return False
        view = c.view
        tls = [t for t in view.tls if t.server_name == host and not t.decoy]
        tcp_hosts = {a for q in view.queries if q.hostname == host for a in q.addrs}
        tcp = [t for t in view.tcp if t.ip in tcp_hosts]
        dns_failed = any(q.hostname == host and q.failure for q in view.queries)
        failed = any(t.failure for t in tls) or any(not t.success for t in tcp) or dns_failed
        return failed and not any(t.failure is None for t in tls)


class _RedirectNotFollowed(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        # When the hop's steps all worked, or there are none, the page was never loaded: nothing
        # says it was reachable.
        return c.following is not None


class _FetchedFromTamperedAddress(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        endpoint = c.final.endpoint
        return endpoint is not None and endpoint_ip(endpoint) in c.view.tampered


class _TlsAuthenticated(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        host = c.host
        return c.final.scheme == "https" and all(
            t.verified for t in c.view.tls if t.server_name == host
        )


class _NoControlPage(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return c.view.control is None or c.view.control.http is None


class _ControlPageFailed(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        control = c.view.control.http if c.view.control else None
        return control is not None and not control.ok


class _CdnChallenged(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return _cdn_challenge(c.view, c.final)


class _PageMatches(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        """Plain-HTTP page like the control's: OONI's own match, or the same status with the same
        title or a body of about the same length."""
        status_match, title_match, _, proportion = c.likeness()
        return c.view.ooni_http_match is True or (
            status_match and (title_match or (proportion is not None and proportion >= 0.7))
        )


class _PageDiffers(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        """Both pages titled, the titles differ, and the status or the length differs too."""
        status_match, title_match, both_titled, proportion = c.likeness()
        return both_titled and not title_match and (not status_match or (proportion or 0.0) < 0.7)


# What a CDN's bot defence answers instead of the page, and how its page says so (lower
# case; Cloudflare, Akamai, Sucuri, AWS WAF, DDoS-Guard and generic wordings).
_CHALLENGE_STATUS = (403, 429, 503)
_CHALLENGE_MARKERS = (
    "checking your browser",
    "just a moment...",
    "cf-chl",
    "challenge-platform",
    "verify you are human",
    "are you a robot",
    "ddos protection by",
    "attention required!",
    "enable javascript and cookies",
    "captcha",
)
_CHALLENGE_HEADERS = (("cf-mitigated", "challenge"), ("x-amzn-waf-action", "challenge"))


def _cdn_challenge(view: View, final: Request) -> bool:
    """A bot challenge from the site's own network: a challenge status and wording, served
    from the control's addresses (or their networks) over an answer DNS did not reject."""
    if final.status not in _CHALLENGE_STATUS:
        return False
    headers = final.headers
    by_header = any(headers.get(name, "").lower().startswith(v) for name, v in _CHALLENGE_HEADERS)
    text = final.body[:65536].lower()
    if not by_header and not any(marker in text for marker in _CHALLENGE_MARKERS):
        return False
    return _from_the_sites_network(view, final)


def _from_the_sites_network(view: View, final: Request) -> bool:
    control = view.control
    if control is None or not control.dns_addrs:
        return False
    if final.endpoint is not None:
        ips = [endpoint_ip(final.endpoint)]
    else:
        ips = [a for q in view.queries if q.hostname in ("", final.host) for a in q.addrs]
    own = set(control.dns_addrs)
    asns = control.asn
    own_asns = {asns[a] for a in own if a in asns}
    return bool(ips) and all(
        ip not in view.tampered and (ip in own or asns.get(ip, -1) in own_asns) for ip in ips
    )


def _blockpage(view: View, fps: Fingerprints, r: Request) -> str | None:
    """The rule a response fires as a blockpage, if any. Only responses a middlebox could have
    written are looked at: plain HTTP, or fetched from an address DNS judged not the site's."""
    if not r.status:
        return None
    tampered = r.endpoint is not None and endpoint_ip(r.endpoint) in view.tampered
    if r.scheme != "http" and not tampered:
        return None
    found = r.page_match(fps)
    if found is not None and found.blocking:
        return "http.blockpage_fingerprint"
    location = r.headers.get("location")
    if location and 300 <= r.status < 400:
        target = url_host(location)
        if target and is_bogon(target):
            return "http.redirect_to_private_address"
    return None


def redirect_url(r: Request) -> str | None:
    """Where a response redirects to, when it is a redirect with a usable Location."""
    location = r.headers.get("location")
    if not location or r.status not in _REDIRECT_CODES or r.failure is not None:
        return None
    try:
        url = urljoin(r.url, location.strip())
        return url if url_scheme_host(url)[1] else None
    except ValueError:
        return None


def redirect_host(r: Request) -> str | None:
    url = redirect_url(r)
    return None if url is None else url_scheme_host(url)[1]


def final_url(view: View) -> str | None:
    """Where the input's redirect chain ended: the URL of the last request, or the one its
    last response redirected to when the chain stopped there (OONI's probe records no request
    for a hop whose DNS, TCP or TLS failed)."""
    if not view.requests:
        return view.input
    final = view.requests[0]
    return redirect_url(final) or final.url or view.input


def final_host(view: View) -> str:
    url = final_url(view)
    try:
        return (url_scheme_host(url)[1] if url else "") or view.host
    except ValueError:
        return view.host


_FAILED_TECHNIQUES: Final = {
    "tls.certificate_invalid_probe_only": "tls.mitm",
    "tls.timeout_probe_only": "tls.timeout",
    "tls.reset_probe_only": "tls.reset",
    "http.timeout_probe_only": "http.timeout",
    "http.reset_probe_only": "http.reset",
    "http.refused_probe_only": "http.reset",
    "http.unreachable_probe_only": "http.reset",
}


def _failed_technique(c: _HttpCase, rule: str) -> str | None:
    failure = c.failure
    if rule == "dns.fetch_lookup_failed":
        nxdomain = is_nxdomain(failure) or failure in _NO_DATA
        return "dns.timeout" if not nxdomain and is_timeout(failure) else "dns.nxdomain"
    return _FAILED_TECHNIQUES.get(rule)


class _FetchProbeFault(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return is_probe_fault(c.failure)


def _lookup_failed(c: _HttpCase) -> bool:
    return c.in_lookup


class _LookupBlocked(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        """The fetch's own lookup failed (other resolvers' answers may have worked: the user's
        browser asks the system resolver) with an NXDOMAIN-like answer or a timeout, while the
        control fetched the page: blocked at DNS, never the page."""
        if not _lookup_failed(c):
            return False
        control = c.control_fetch()
        failure = c.failure
        return (
            control is not None
            and control.ok
            and (is_nxdomain(failure) or failure in _NO_DATA or is_timeout(failure))
        )


class _LookupFailedForControlToo(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        """The fetch's own lookup failed, and so did the control's own lookup of this host (the
        input's, or a redirect hop's it was asked about): the name, not the path."""
        if not _lookup_failed(c):
            return False
        own = c.view.control_for(c.host)
        return own is not None and own.dns_failure is not None


def _failed_in_tls_unrecorded(c: _HttpCase) -> bool:
    return c.tls_unrecorded()


class _FailedInTlsUnrecorded(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return _failed_in_tls_unrecorded(c)


class _TlsUnrecordedNoControl(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return _failed_in_tls_unrecorded(c) and _control_tls(c) is None


class _TlsUnrecordedControlFailed(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return _failed_in_tls_unrecorded(c) and _control_tls(c) is False


class _TlsUnrecordedCertificate(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return _failed_in_tls_unrecorded(c) and is_certificate_error(c.failure)


class _TlsUnrecordedTimeout(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return _failed_in_tls_unrecorded(c) and c.kind() == "timeout"


def _control_tls(c: _HttpCase) -> bool | None:
    return control_tls(c.view, None, c.host, fetched_https=True)


class _NoControlFetch(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return c.control_fetch() is None


class _ControlFetchFailed(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        control = c.control_fetch()
        return control is not None and not control.ok


class _FailedBelowHttp(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        """The fetch failed below HTTP (its lookup, its connect, its TLS handshake): the lower
        layer judged why, and the page was not loaded, so it is never `accessible`."""
        return _lookup_failed(c) or c.in_connect() or c.in_tls()


class _ResetNotConsistent(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return c.kind() == "reset" and _reset_inconsistent(c.view, c.final, c.host)


class _FetchOwnTrouble(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        # http_invalid_redirect_url, decoding errors...: the probe's own trouble, not the path.
        return c.kind() in ("other", "certificate")


class _FetchTimedOut(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return c.kind() == "timeout"


class _FetchReset(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return c.kind() == "reset"


class _FetchRefused(Predicate[_HttpCase]):
    def holds(self, c: _HttpCase) -> bool:
        return c.kind() == "refused"


def _control_fetch(view: View, host: str) -> ControlHttp | None:
    """The control's fetch to compare a failed fetch with: its fetch of the hop's URL when the
    chain failed at a redirect hop it was asked about, else its fetch of the input (whose
    chain went through the hop)."""
    hop = view.control_for(host) if host != view.host else None
    if hop is not None and hop.http is not None:
        return hop.http
    return view.control.http if view.control else None


def _reset_inconsistent(view: View, final: Request, host: str) -> bool:
    """A censor resets every request it filters; a reset while another connection for the
    same site to the same address got through, or while the control was reset too, is the
    server's own doing."""
    if control_reset_too(view, host):
        return True
    if final.endpoint is None:
        return False
    ip = endpoint_ip(final.endpoint)
    if final.scheme == "https":
        return name_got_through(view, final.host, ip)
    return any(
        r is not final and r.status > 0 and r.endpoint and endpoint_ip(r.endpoint) == ip
        for r in view.requests
    ) or _sample_got_through(view, ip)


def _sample_got_through(view: View, ip: str) -> bool:
    sample = view.throughput
    if not sample:
        return False
    address, status = sample.get("address"), sample.get("status_code")
    return (
        isinstance(address, str)
        and isinstance(status, int)
        and status > 0
        and (endpoint_ip(address) == ip)
    )


def _failed_in_connect(view: View, final: Request) -> bool:
    port = url_port(final.url) or (443 if final.scheme == "https" else 80)
    if final.endpoint is not None:
        attempts = [t for t in view.tcp if t.endpoint == final.endpoint]
    else:
        attempts = [t for t in view.tcp if t.port == port]
    return bool(attempts) and not any(t.success for t in attempts)


def _failed_in_tls(view: View, final: Request) -> bool:
    """True when the fetch failed in the TLS handshake: judged by the handshakes when they were
    recorded (then the TLS layer already has it), else by the failure string."""
    failure = final.failure or ""
    handshakes = [t for t in view.tls if t.server_name == final.host and not t.decoy]
    if final.endpoint is not None:
        # The fetch's own address: a handshake that worked elsewhere says nothing of it.
        handshakes = [t for t in handshakes if t.endpoint == final.endpoint] or handshakes
    if handshakes:
        return not any(t.failure is None for t in handshakes)
    return failure.startswith("ssl_") or is_certificate_error(failure) or is_reset(failure)


def _proportion(final: Request, control: ControlHttp) -> float | None:
    if final.truncated or final.body_length <= 0 or control.body_length <= 0:
        return None
    small, large = sorted((final.body_length, control.body_length))
    return small / large


def _titles_match(a: str, b: str) -> bool:
    """Same title, or one long word in common (titles carry dates, user names, A/B tests)."""
    if not a or not b:
        return False
    if a.lower() == b.lower():
        return True
    words_a = {w for w in a.lower().split() if len(w) >= 5}
    return bool(words_a & {w for w in b.lower().split() if len(w) >= 5})


# A response came: a blockpage first, then a redirect the measurement did not follow, then
# what makes the page the site's (TLS) or no evidence, then the page against the control's.
HTTP_PAGE_ORDER: Final[tuple[Step[_HttpCase], ...]] = (
    Step("http.blockpage_fingerprint", _BlockpageFingerprint()),
    Step("http.redirect_to_private_address", _RedirectToPrivateAddress()),
    Step(NO_OBSERVATION, _HopFailedBelow()),
    Step("http.redirect_not_followed", _RedirectNotFollowed()),
    Step("http.address_from_tampered_dns", _FetchedFromTamperedAddress()),
    Step("http.tls_authenticated", _TlsAuthenticated()),
    Step("http.no_control", _NoControlPage()),
    Step("http.control_failed", _ControlPageFailed()),
    Step("http.cdn_challenge", _CdnChallenged()),
    Step("http.matches_control", _PageMatches()),
    Step("http.differs_from_control", _PageDiffers()),
    Step("http.differs_weakly", always),
)

# The fetch failed: a blockpage earlier in the chain first, the probe's own fault, the layer
# it failed in (its lookup, which the control's own lookup may have shared; a TLS handshake no
# other record shows), the control's fetch, then how it failed.
HTTP_FAILED_ORDER: Final[tuple[Step[_HttpCase], ...]] = (
    Step("http.blockpage_fingerprint", _BlockpageFingerprint()),
    Step("http.redirect_to_private_address", _RedirectToPrivateAddress()),
    Step("http.probe_fault", _FetchProbeFault()),
    Step("http.fails_for_control_too", _LookupFailedForControlToo()),
    Step("dns.fetch_lookup_failed", _LookupBlocked()),
    Step("tls.no_control", _TlsUnrecordedNoControl()),
    Step("tls.fails_for_control_too", _TlsUnrecordedControlFailed()),
    Step("tls.certificate_invalid_probe_only", _TlsUnrecordedCertificate()),
    Step("tls.timeout_probe_only", _TlsUnrecordedTimeout()),
    Step("tls.reset_probe_only", _FailedInTlsUnrecorded()),
    Step("http.no_control", _NoControlFetch()),
    Step("http.fails_for_control_too", _ControlFetchFailed()),
    Step("http.failed_below_http", _FailedBelowHttp()),
    Step("http.reset_not_consistent", _ResetNotConsistent()),
    Step("http.probe_fault", _FetchOwnTrouble()),
    Step("http.timeout_probe_only", _FetchTimedOut()),
    Step("http.reset_probe_only", _FetchReset()),
    Step("http.refused_probe_only", _FetchRefused()),
    Step("http.unreachable_probe_only", always),
)
