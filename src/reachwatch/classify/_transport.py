"""TCP and TLS rules, per endpoint: did the probe get a connection and a handshake where the
control did? A decoy-SNI handshake to the same address tells SNI filtering from IP blocking.

The order in which the rules are tried is TCP_ORDER and TLS_ORDER at the end of this module."""

from __future__ import annotations

from typing import Final

from reachwatch.classify._net import (
    endpoint_ip,
    failure_kind,
    ip_version,
    is_certificate_error,
    is_probe_fault,
    is_reset,
    is_timeout,
)
from reachwatch.classify._rules import Predicate, Step, always, first_match, observe
from reachwatch.classify._view import Tcp, Tls, View
from reachwatch.classify.verdicts import Observation


def judge_tcp(view: View, names: dict[str, str]) -> list[Observation]:
    """One observation per endpoint (a success among repeated attempts wins)."""
    best: dict[str, Tcp] = {}
    for t in view.tcp:
        if t.endpoint not in best or (t.success and not best[t.endpoint].success):
            best[t.endpoint] = t
    return [_tcp(_TcpCase(view, t, names.get(t.ip, view.host))) for t in best.values()]


class _TcpCase:
    """One endpoint's connect attempt, and what the rules ask of it (each worked out once)."""

    __slots__ = ("_control", "_control_known", "_kind", "failure", "host", "t", "view")

    def __init__(self, view: View, t: Tcp, host: str) -> None:
        self.view = view
        self.t = t
        self.host = host
        self.failure = t.failure or "unknown_failure"
        self._control: bool | None = None
        self._control_known = False
        self._kind = ""

    def kind(self) -> str:
        """How the connect failed (net.failure_kind)."""
        if not self._kind:
            self._kind = failure_kind(self.failure)
        return self._kind

    def control(self) -> bool | None:
        """Did the control connect to this endpoint? None: nothing to compare."""
        if not self._control_known:
            self._control = _control_tcp(self.view, self.t.endpoint, self.host)
            self._control_known = True
        return self._control


def _tcp(c: _TcpCase) -> Observation:
    rule = first_match(TCP_ORDER, c)
    if rule == "tcp.connected":
        return observe(rule, c.host, c.t.endpoint)
    technique = "tcp.timeout" if rule == "tcp.timeout_probe_only" else "tcp.reset"
    return observe(rule, c.host, c.t.endpoint, technique=technique, failure=c.failure)


class _Connected(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return c.t.success


class _TcpProbeFault(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return is_probe_fault(c.failure)


class _TcpTamperedAddress(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return c.t.ip in c.view.tampered


class _TcpIpv6Unavailable(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return ip_version(c.t.ip) == 6 and not c.view.ipv6_capable


class _TcpNoControl(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return c.view.control is None and c.view.control_for(c.host) is None


class _TcpNoControlForEndpoint(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return c.control() is None


class _TcpControlFailed(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return c.control() is False


class _TcpTimedOut(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return c.kind() == "timeout"


class _TcpWasReset(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return c.kind() == "reset"


class _TcpWasRefused(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return c.kind() == "refused"


class _TcpUnreachable(Predicate[_TcpCase]):
    def holds(self, c: _TcpCase) -> bool:
        return c.kind() == "unreachable"


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
    return [_tls(_TlsCase(view, t, decoys.get(t.endpoint or ""))) for t in best.values()]


class _TlsCase:
    """One real-SNI handshake, the decoy-SNI one to the same endpoint, and the control's."""

    __slots__ = (
        "_certificate",
        "_control",
        "_control_known",
        "_timeout",
        "decoy",
        "failure",
        "host",
        "t",
        "view",
    )

    def __init__(self, view: View, t: Tls, decoy: Tls | None) -> None:
        self.view = view
        self.t = t
        self.decoy = decoy
        self.host = t.server_name or view.host
        self.failure = t.failure or ""
        self._timeout: bool | None = None
        self._certificate: bool | None = None
        self._control: bool | None = None
        self._control_known = False

    def timeout(self) -> bool:
        """The handshake failed by timing out."""
        if self._timeout is None:
            self._timeout = self.t.failure is not None and is_timeout(self.t.failure)
        return self._timeout

    def certificate(self) -> bool:
        """The handshake failed on the certificate."""
        if self._certificate is None:
            failure = self.t.failure
            self._certificate = failure is not None and is_certificate_error(failure)
        return self._certificate

    def control(self) -> bool | None:
        """Did the control's TLS to this endpoint work? None: nothing to compare."""
        if not self._control_known:
            self._control = control_tls(self.view, self.t.endpoint, self.host)
            self._control_known = True
        return self._control


# The technique each blocking TLS rule names (tls.decoy_fails_too: by how the decoy failed).
_TLS_TECHNIQUES: Final = {
    "tls.certificate_invalid_probe_only": "tls.mitm",
    "tls.timeout_decoy_ok": "tls.timeout",
    "tls.reset_after_hello_decoy_ok": "tls.reset",
    "tls.timeout_probe_only": "tls.timeout",
    "tls.reset_probe_only": "tls.reset",
}


def _tls(c: _TlsCase) -> Observation:
    rule = first_match(TLS_ORDER, c)
    t = c.t
    if rule == "tls.handshake_ok":
        return observe(rule, c.host, t.endpoint)
    technique = _TLS_TECHNIQUES.get(rule)
    if rule == "tls.decoy_fails_too" and c.decoy is not None:
        # Any name fails at this address while the control gets through: IP-level blocking.
        technique = "tcp.timeout" if is_timeout(c.decoy.failure or "") else "tcp.reset"
    return observe(rule, c.host, t.endpoint, technique=technique, failure=c.failure)


class _HandshakeOk(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return c.t.failure is None


class _TlsProbeFault(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return is_probe_fault(c.failure)


class _TlsTamperedAddress(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return c.t.ip is not None and c.t.ip in c.view.tampered


class _TlsIpv6Unavailable(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return c.t.ip is not None and ip_version(c.t.ip) == 6 and not c.view.ipv6_capable


class _TlsControlFailed(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return c.control() is False


class _CertificateWithoutControl(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return c.certificate() and c.control() is None


class _CertificateDatesOnly(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        # A certificate for the right name from a trusted authority, outside its validity window
        # as the probe's clock reads it: a wrong clock, not an interceptor.
        return c.certificate() and c.t.dates_only


class _CertificateInvalid(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return c.certificate()


class _SameNameGotThrough(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        # Filtering by name fails every handshake naming the site at this address; one that went
        # through (a retry, the fetch, the throughput sample) makes this one the server's.
        ip = c.t.ip
        return not c.timeout() and ip is not None and name_got_through(c.view, c.host, ip)


class _ControlResetAlike(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return not c.timeout() and control_reset_too(c.view, c.host)


def _decoy_ok(c: _TlsCase) -> bool:
    # The same address completes a handshake for another name: the name is filtered.
    return c.decoy is not None and _got_through(c.decoy)


class _DecoyOk(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return _decoy_ok(c)


class _DecoyOkTimedOut(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return c.timeout() and _decoy_ok(c)


class _TlsNoControl(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return c.control() is None


class _DecoyFailsToo(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return c.decoy is not None


class _TlsTimedOut(Predicate[_TlsCase]):
    def holds(self, c: _TlsCase) -> bool:
        return c.timeout()


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


# The order of the rules, first match wins: what the probe itself decides (success, its own
# fault), what makes the failure no evidence (a tampered or unusable address, no control), what
# the control says, then how the probe's attempt failed.
TCP_ORDER: Final[tuple[Step[_TcpCase], ...]] = (
    Step("tcp.connected", _Connected()),
    Step("tcp.probe_fault", _TcpProbeFault()),
    Step("tcp.address_from_tampered_dns", _TcpTamperedAddress()),
    Step("tcp.ipv6_unavailable", _TcpIpv6Unavailable()),
    Step("tcp.no_control", _TcpNoControl()),
    Step("tcp.no_control_for_endpoint", _TcpNoControlForEndpoint()),
    Step("tcp.fails_for_control_too", _TcpControlFailed()),
    Step("tcp.timeout_probe_only", _TcpTimedOut()),
    Step("tcp.reset_probe_only", _TcpWasReset()),
    Step("tcp.refused_probe_only", _TcpWasRefused()),
    Step("tcp.unreachable_probe_only", _TcpUnreachable()),
    # No certificate in a TCP connect: a malformed or foreign failure string is "other".
    Step("tcp.other_probe_only", always),
)

TLS_ORDER: Final[tuple[Step[_TlsCase], ...]] = (
    Step("tls.handshake_ok", _HandshakeOk()),
    Step("tls.probe_fault", _TlsProbeFault()),
    Step("tls.address_from_tampered_dns", _TlsTamperedAddress()),
    Step("tls.ipv6_unavailable", _TlsIpv6Unavailable()),
    Step("tls.fails_for_control_too", _TlsControlFailed()),
    Step("tls.no_control", _CertificateWithoutControl()),
    Step("tls.certificate_dates_probe_clock", _CertificateDatesOnly()),
    Step("tls.certificate_invalid_probe_only", _CertificateInvalid()),
    Step("tls.same_name_got_through", _SameNameGotThrough()),
    Step("tls.control_reset_alike", _ControlResetAlike()),
    Step("tls.timeout_decoy_ok", _DecoyOkTimedOut()),
    Step("tls.reset_after_hello_decoy_ok", _DecoyOk()),
    Step("tls.no_control", _TlsNoControl()),
    Step("tls.decoy_fails_too", _DecoyFailsToo()),
    Step("tls.timeout_probe_only", _TlsTimedOut()),
    Step("tls.reset_probe_only", always),
)
