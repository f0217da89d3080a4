"""TCP and TLS rules, per endpoint: did the probe get a connection and a handshake where the
control did? A decoy-SNI handshake to the same address tells SNI filtering from IP blocking."""

from __future__ import annotations

from reachwatch.classify._net import (
    endpoint_ip,
    failure_kind,
    ip_version,
    is_certificate_error,
    is_probe_fault,
    is_reset,
    is_timeout,
)
from reachwatch.classify._rules import observe
from reachwatch.classify._view import Tcp, Tls, View
from reachwatch.classify.verdicts import Observation


def judge_tcp(view: View, names: dict[str, str]) -> list[Observation]:
    """One observation per endpoint (a success among repeated attempts wins)."""
    best: dict[str, Tcp] = {}
    for t in view.tcp:
        if t.endpoint not in best or (t.success and not best[t.endpoint].success):
            best[t.endpoint] = t
    return [_tcp(view, t, names.get(t.ip, view.host)) for t in best.values()]


def _tcp(view: View, t: Tcp, host: str) -> Observation:
    if t.success:
        return observe("tcp.connected", host, t.endpoint)
    failure = t.failure or "unknown_failure"
    if is_probe_fault(failure):
        return observe("tcp.probe_fault", host, t.endpoint, failure=failure)
    if t.ip in view.tampered:
        return observe("tcp.address_from_tampered_dns", host, t.endpoint, failure=failure)
    if ip_version(t.ip) == 6 and not view.ipv6_capable:
        return observe("tcp.ipv6_unavailable", host, t.endpoint, failure=failure)
    if view.control is None and view.control_for(host) is None:
        return observe("tcp.no_control", host, t.endpoint, failure=failure)
    control = _control_tcp(view, t.endpoint, host)
    if control is None:
        return observe("tcp.no_control_for_endpoint", host, t.endpoint, failure=failure)
    if not control:
        return observe("tcp.fails_for_control_too", host, t.endpoint, failure=failure)
    kind = failure_kind(failure)
    if kind == "certificate":
        kind = "other"  # no certificate in a TCP connect: a malformed or foreign failure string
    technique = "tcp.timeout" if kind == "timeout" else "tcp.reset"
    return observe(f"tcp.{kind}_probe_only", host, t.endpoint, technique=technique, failure=failure)


def _control_tcp(view: View, endpoint: str, host: str) -> bool | None:
    """Did the control connect to this endpoint? A redirect hop's endpoint is looked up in the
    control's answer for that hop; without one (OONI's measurements), the control's fetch of
    the whole chain says whether the hop's host was reachable from it. None: nothing to
    compare."""
    for control in (view.control_for(host), view.control):
        if control is not None and endpoint in control.tcp:
            return control.tcp[endpoint][0]
    return view.hop_reached_by_control(host)


def judge_tls(view: View) -> list[Observation]:
    """One observation per endpoint and server name, from the real-SNI handshakes."""
    decoys = {t.endpoint: t for t in view.tls if t.decoy and t.endpoint}
    best: dict[tuple[str | None, str], Tls] = {}
    for t in view.tls:
        key = (t.endpoint, t.server_name)
        if not t.decoy and (key not in best or (not t.failure and best[key].failure)):
            best[key] = t
    return [_tls(view, t, decoys.get(t.endpoint or "")) for t in best.values()]


def _tls(view: View, t: Tls, decoy: Tls | None) -> Observation:
    host = t.server_name or view.host
    if t.failure is None:
        return observe("tls.handshake_ok", host, t.endpoint)
    failure = t.failure
    if is_probe_fault(failure):
        return observe("tls.probe_fault", host, t.endpoint, failure=failure)
    if t.ip is not None and t.ip in view.tampered:
        return observe("tls.address_from_tampered_dns", host, t.endpoint, failure=failure)
    if t.ip is not None and ip_version(t.ip) == 6 and not view.ipv6_capable:
        return observe("tls.ipv6_unavailable", host, t.endpoint, failure=failure)
    control = control_tls(view, t.endpoint, host)
    if control is False:
        return observe("tls.fails_for_control_too", host, t.endpoint, failure=failure)
    if is_certificate_error(failure):
        if control is None:
            return observe("tls.no_control", host, t.endpoint, failure=failure)
        if t.dates_only:
            # A certificate for the right name from a trusted authority, outside its validity
            # window as the probe's clock reads it: a wrong clock, not an interceptor.
            return observe("tls.certificate_dates_probe_clock", host, t.endpoint, failure=failure)
        return observe(
            "tls.certificate_invalid_probe_only",
            host,
            t.endpoint,
            technique="tls.mitm",
            failure=failure,
        )
    timeout = is_timeout(failure)
    if not timeout and t.ip is not None and name_got_through(view, host, t.ip):
        # Filtering by name fails every handshake naming the site at this address; one that
        # went through (a retry, the fetch, the throughput sample) makes this one the server's.
        return observe("tls.same_name_got_through", host, t.endpoint, failure=failure)
    if not timeout and control_reset_too(view, host):
        return observe("tls.control_reset_alike", host, t.endpoint, failure=failure)
    if decoy is not None and _got_through(decoy):
        # The same address completes a handshake for another name: the name is filtered.
        rule = "tls.timeout_decoy_ok" if timeout else "tls.reset_after_hello_decoy_ok"
        technique = "tls.timeout" if timeout else "tls.reset"
        return observe(rule, host, t.endpoint, technique=technique, failure=failure)
    if control is None:
        return observe("tls.no_control", host, t.endpoint, failure=failure)
    if decoy is not None:
        # Any name fails at this address while the control gets through: IP-level blocking.
        ip_technique = "tcp.timeout" if is_timeout(decoy.failure or "") else "tcp.reset"
        return observe(
            "tls.decoy_fails_too", host, t.endpoint, technique=ip_technique, failure=failure
        )
    rule = "tls.timeout_probe_only" if timeout else "tls.reset_probe_only"
    technique = "tls.timeout" if timeout else "tls.reset"
    return observe(rule, host, t.endpoint, technique=technique, failure=failure)


def name_got_through(view: View, name: str, ip: str) -> bool:
    """Did any connection naming this site to this address get through (a handshake, a
    response, a throughput sample)?"""
    if any(
        o.ip == ip and o.server_name == name and not o.decoy and o.failure is None for o in view.tls
    ):
        return True
    for r in view.requests:
        https_here = r.scheme == "https" and r.endpoint and endpoint_ip(r.endpoint) == ip
        if https_here and r.status > 0 and r.host == name:
            return True
    sample = view.throughput
    address = sample.get("address") if sample else None
    status = sample.get("status_code") if sample else None
    # The sample fetches the input's final URL: its host is the input's, or a redirect's.
    same_name = name == view.host or any(r.host == name for r in view.requests)
    return (
        isinstance(address, str)
        and isinstance(status, int)
        and status > 0
        and same_name
        and endpoint_ip(address) == ip
    )


def control_reset_too(view: View, host: str) -> bool:
    """The control's own steps for this site were reset as well (its handshake, its fetch or
    its throughput sample): the server drops connections for everyone, not only here."""
    control = view.control
    if control is None or host != view.host:
        return False
    failures = [f for ok, f in control.tls.values() if not ok and f]
    if control.http is not None and control.http.failure:
        failures.append(control.http.failure)
    sample = control.throughput
    if sample and isinstance(sample.get("failure"), str):
        failures.append(sample["failure"])
    return any(is_reset(f) and not f.startswith("connection_refused") for f in failures)


def _got_through(decoy: Tls) -> bool:
    """A decoy handshake that finished (a certificate not valid for the decoy name still
    means the server answered the ClientHello)."""
    return decoy.failure is None or is_certificate_error(decoy.failure)


def control_tls(
    view: View, endpoint: str | None, host: str, *, fetched_https: bool | None = None
) -> bool | None:
    """Did the control's TLS to this endpoint work? Falls back to the control's handshakes
    with the other addresses, then to its fetch of the input when that went over HTTPS (the
    input itself, or a redirect to it). None: nothing to compare.

    A redirect hop's host is compared with the control's answer for that hop, else with the
    control's fetch of the whole chain (which went through that host)."""
    if host != view.host and host:
        return _hop_control_tls(view, endpoint, host)
    control = view.control
    if control is None:
        return None
    if endpoint is not None and endpoint in control.tls:
        return control.tls[endpoint][0]
    if host != view.host:
        return None
    if control.tls:
        own = set(control.dns_addrs)
        results = [ok for key, (ok, _) in control.tls.items() if endpoint_ip(key) in own]
        if results:
            return any(results)
    https = view.scheme == "https" if fetched_https is None else fetched_https
    if https and control.http is not None:
        return control.http.ok
    return None


def _hop_control_tls(view: View, endpoint: str | None, host: str) -> bool | None:
    hop = view.control_for(host)
    if hop is not None:
        if endpoint is not None and endpoint in hop.tls:
            return hop.tls[endpoint][0]
        own = set(hop.dns_addrs)
        results = [ok for key, (ok, _) in hop.tls.items() if endpoint_ip(key) in own]
        if results:
            return any(results)
        if hop.http is not None:
            return hop.http.ok
    return view.hop_reached_by_control(host)
