"""HTTP rules: was the page the site's? A blockpage fingerprint on a plain-HTTP response (TLS
makes injected pages impossible), a redirect into private address space, a failure after the
connection was up, or a page unlike the control's."""

from __future__ import annotations

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
from reachwatch.classify._rules import observe
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
    final = view.requests[0]
    host = final.host or view.host
    for r in view.requests:
        found = _blockpage(view, fps, r)
        if found is not None:
            return [observe(found, host, technique="http.blockpage")]
    if final.failure is not None:
        return _failed(view, final, host)
    following = redirect_host(final)
    if following is not None:
        return _unfetched_hop(view, following)
    if final.endpoint and endpoint_ip(final.endpoint) in view.tampered:
        return [observe("http.address_from_tampered_dns", host)]
    if final.scheme == "https" and all(t.verified for t in view.tls if t.server_name == host):
        return [observe("http.tls_authenticated", host)]
    control = view.control.http if view.control else None
    if control is None:
        return [observe("http.no_control", host)]
    if not control.ok:
        return [observe("http.control_failed", host)]
    if _cdn_challenge(view, final):
        return [observe("http.cdn_challenge", host)]
    return [observe(_compare(view, final, control), host, technique="http.diff")]


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


def _unfetched_hop(view: View, host: str) -> list[Observation]:
    """The chain redirected to `host` and no request followed: the steps measured for that
    host (DNS, TCP, TLS) say why, and speak for the page. When they all worked, or there are
    none, the page was never loaded: nothing says it was reachable."""
    tls = [t for t in view.tls if t.server_name == host and not t.decoy]
    tcp_hosts = {a for q in view.queries if q.hostname == host for a in q.addrs}
    tcp = [t for t in view.tcp if t.ip in tcp_hosts]
    dns_failed = any(q.hostname == host and q.failure for q in view.queries)
    failed = any(t.failure for t in tls) or any(not t.success for t in tcp) or dns_failed
    if failed and not any(t.failure is None for t in tls):
        return []
    return [observe("http.redirect_not_followed", host)]


def _failed(view: View, final: Request, host: str) -> list[Observation]:
    failure = final.failure or ""
    if is_probe_fault(failure):
        return [observe("http.probe_fault", host, failure=failure)]
    if failure.startswith(("dns_", "android_dns")):
        return _failed_lookup(view, final, host)
    if _failed_in_connect(view, final):
        return _judged_below(view, host, failure)  # the TCP layer judged the connection
    if final.scheme == "https" and _failed_in_tls(view, final):
        return _tls_from_request(view, final, host) or _judged_below(view, host, failure)
    unmatched = _no_working_control(view, host, failure)
    if unmatched is not None:
        return unmatched
    kind = failure_kind(failure)
    if kind == "reset" and _reset_inconsistent(view, final, host):
        return [observe("http.reset_not_consistent", host, failure=failure)]
    if kind in ("other", "certificate"):
        # http_invalid_redirect_url, decoding errors...: the probe's own trouble, not the path.
        return [observe("http.probe_fault", host, failure=failure)]
    technique = "http.timeout" if kind == "timeout" else "http.reset"
    return [observe(f"http.{kind}_probe_only", host, technique=technique, failure=failure)]


def _control_fetch(view: View, host: str) -> ControlHttp | None:
    """The control's fetch to compare a failed fetch with: its fetch of the hop's URL when the
    chain failed at a redirect hop it was asked about, else its fetch of the input (whose
    chain went through the hop)."""
    hop = view.control_for(host) if host != view.host else None
    if hop is not None and hop.http is not None:
        return hop.http
    return view.control.http if view.control else None


def _failed_lookup(view: View, final: Request, host: str) -> list[Observation]:
    """The fetch's own lookup failed (other resolvers' answers may have worked: the user's
    browser asks the system resolver). Blocked at DNS when the control fetched the page and
    the failure is an NXDOMAIN-like answer or a timeout; never the page."""
    failure = final.failure or ""
    own = view.control_for(host)
    if own is not None and own.dns_failure is not None:
        # The control's own lookup of this host failed too: the name, not the path.
        return [observe("http.fails_for_control_too", host, failure=failure)]
    control = _control_fetch(view, host)
    if control is not None and control.ok:
        if is_nxdomain(failure) or failure in _NO_DATA:
            return [
                observe("dns.fetch_lookup_failed", host, technique="dns.nxdomain", failure=failure)
            ]
        if is_timeout(failure):
            return [
                observe("dns.fetch_lookup_failed", host, technique="dns.timeout", failure=failure)
            ]
    return _judged_below(view, host, failure)


def _judged_below(view: View, host: str, failure: str) -> list[Observation]:
    """A fetch that failed below HTTP: the lower layer judged why, and the page was not
    loaded, so it is never `accessible`: down when the control's fetch failed too."""
    unmatched = _no_working_control(view, host, failure)
    if unmatched is not None:
        return unmatched
    return [observe("http.failed_below_http", host, failure=failure)]


def _no_working_control(view: View, host: str, failure: str) -> list[Observation] | None:
    """A failed fetch with no control fetch to compare (no_control), or one the control's
    fetch shared (down); None when the control fetched the page."""
    control = _control_fetch(view, host)
    if control is None:
        return [observe("http.no_control", host, failure=failure)]
    if not control.ok:
        return [observe("http.fails_for_control_too", host, failure=failure)]
    return None


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


def _tls_from_request(view: View, final: Request, host: str) -> list[Observation]:
    if any(t.server_name == final.host for t in view.tls):
        return []  # judged by the TLS layer from the handshakes themselves
    failure = final.failure or ""
    control = control_tls(view, None, host, fetched_https=True)
    if control is None:
        return [observe("tls.no_control", host, failure=failure)]
    if control is False:
        return [observe("tls.fails_for_control_too", host, failure=failure)]
    if is_certificate_error(failure):
        rule, technique = "tls.certificate_invalid_probe_only", "tls.mitm"
    elif failure_kind(failure) == "timeout":
        rule, technique = "tls.timeout_probe_only", "tls.timeout"
    else:
        rule, technique = "tls.reset_probe_only", "tls.reset"
    return [observe(rule, host, technique=technique, failure=failure)]


def _compare(view: View, final: Request, control: ControlHttp) -> str:
    """Plain-HTTP page against the control's: the same site, a different one, or unclear."""
    status_match = final.status == control.status
    title_match = _titles_match(final.title or "", control.title)
    both_titled = bool(final.title) and bool(control.title)
    proportion = _proportion(final, control)
    if view.ooni_http_match is True or (
        status_match and (title_match or (proportion is not None and proportion >= 0.7))
    ):
        return "http.matches_control"
    if both_titled and not title_match and (not status_match or (proportion or 0.0) < 0.7):
        return "http.differs_from_control"
    return "http.differs_weakly"


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
