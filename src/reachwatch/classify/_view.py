"""A checked, normalised view of OONI-shaped test_keys (web_connectivity, the app tests,
urlgetter and reachwatch's own superset), so rules read attributes instead of digging dicts.

Everything malformed raises InvalidMeasurement here, once; rules never see a wrong type.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from reachwatch.classify._errors import InvalidMeasurement
from reachwatch.classify._fingerprints import SCAN_LIMIT, Fingerprints, Match
from reachwatch.classify._net import (
    endpoint,
    endpoint_ip,
    ip_version,
    is_nxdomain,
    is_probe_fault,
    is_unreachable,
)

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


# Each class spells out its __init__: ingest compiles this module, and a compiled class runs
# its own __init__ natively but the one dataclass() writes as interpreted code.


@dataclass(slots=True, init=False)
class Query:
    hostname: str
    engine: str  # getaddrinfo | system | udp | doh | ...
    resolver: str
    query_type: str
    failure: str | None
    addrs: list[str]

    def __init__(
        self,
        hostname: str,
        engine: str,
        resolver: str,
        query_type: str,
        failure: str | None,
        addrs: list[str],
    ) -> None:
        self.hostname = hostname
        self.engine = engine
        self.resolver = resolver
        self.query_type = query_type
        self.failure = failure
        self.addrs = addrs

    @property
    def is_doh(self) -> bool:
        return self.engine == "doh"


@dataclass(slots=True, init=False)
class Tcp:
    ip: str
    port: int
    endpoint: str
    success: bool
    failure: str | None

    def __init__(
        self, ip: str, port: int, endpoint: str, success: bool, failure: str | None
    ) -> None:
        self.ip = ip
        self.port = port
        self.endpoint = endpoint
        self.success = success
        self.failure = failure


@dataclass(slots=True, init=False)
class Tls:
    endpoint: str | None
    ip: str | None
    server_name: str
    failure: str | None
    decoy: bool
    verified: bool
    # reachwatch's x_cert_error ("expired", "unknown_authority"...); OONI's entries have none.
    cert_error: str | None

    def __init__(
        self,
        endpoint: str | None,
        ip: str | None,
        server_name: str,
        failure: str | None,
        decoy: bool,
        verified: bool,
        cert_error: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.ip = ip
        self.server_name = server_name
        self.failure = failure
        self.decoy = decoy
        self.verified = verified
        self.cert_error = cert_error

    @property
    def dates_only(self) -> bool:
        """The certificate failed on its validity dates alone: the probe's clock, most likely,
        since an interceptor's certificate fails on its authority or its name first."""
        return self.cert_error in _DATE_ERRORS


_DATE_ERRORS = ("expired", "not_yet_valid")

_UNSET: Any = object()


@dataclass(slots=True, init=False)
class Request:
    url: str
    failure: str | None
    status: int
    body: str
    headers: dict[str, str]
    endpoint: str | None
    body_length: int  # of the whole body when the probe recorded it, else of the stored one
    truncated: bool
    # Worked out on first use (most requests never need them), then kept for the other rules.
    _title: Any = field(repr=False, compare=False)
    _host: str | None = field(repr=False, compare=False)
    _page: Any = field(repr=False, compare=False)

    def __init__(
        self,
        url: str,
        failure: str | None,
        status: int,
        body: str,
        headers: dict[str, str],
        endpoint: str | None,
        body_length: int,
        truncated: bool,
    ) -> None:
        self.url = url
        self.failure = failure
        self.status = status
        self.body = body
        self.headers = headers
        self.endpoint = endpoint
        self.body_length = body_length
        self.truncated = truncated
        self._title = _UNSET
        self._host = None
        self._page = _UNSET

    @property
    def scheme(self) -> str:
        return self.url.split(":", 1)[0].lower()

    @property
    def host(self) -> str:
        if self._host is None:
            self._host = url_scheme_host(self.url)[1]
        return self._host

    @property
    def title(self) -> str | None:
        if self._title is _UNSET:
            self._title = _title(self.body)
        title: str | None = self._title
        return title

    def page_match(self, fingerprints: Fingerprints) -> Match | None:
        """The fingerprint this response's body and headers match (looked up once: DNS and
        HTTP rules both ask)."""
        if self._page is _UNSET or self._page[0] is not fingerprints:
            self._page = (fingerprints, fingerprints.match_http(self.body, self.headers))
        found: Match | None = self._page[1]
        return found


@dataclass(slots=True, init=False)
class Quic:
    endpoint: str
    ip: str
    server_name: str
    failure: str | None

    def __init__(self, endpoint: str, ip: str, server_name: str, failure: str | None) -> None:
        self.endpoint = endpoint
        self.ip = ip
        self.server_name = server_name
        self.failure = failure


@dataclass(slots=True, init=False)
class ControlHttp:
    failure: str | None
    status: int
    body_length: int
    title: str

    def __init__(self, failure: str | None, status: int, body_length: int, title: str) -> None:
        self.failure = failure
        self.status = status
        self.body_length = body_length
        self.title = title

    @property
    def ok(self) -> bool:
        return self.failure is None and self.status > 0


@dataclass(slots=True, init=False)
class Control:
    """The control's answer (OONI test-helper shape), when it is usable."""

    dns_addrs: list[str]
    dns_failure: str | None
    tcp: dict[str, tuple[bool, str | None]]
    tls: dict[str, tuple[bool, str | None]]
    quic: dict[str, tuple[bool, str | None]]
    http: ControlHttp | None
    ip_info: Any  # control.ip_info as recorded; read through `asn`
    throughput: dict[str, Any] | None
    # Built on first use (only some DNS rules ask), then kept.
    _asn: dict[str, int] | None = field(repr=False, compare=False)
    _tcp_at: dict[str, list[tuple[bool, str | None]]] | None = field(repr=False, compare=False)
    _tls_at: dict[str, list[tuple[bool, str | None]]] | None = field(repr=False, compare=False)

    def __init__(
        self,
        dns_addrs: list[str],
        dns_failure: str | None,
        tcp: dict[str, tuple[bool, str | None]],
        tls: dict[str, tuple[bool, str | None]],
        quic: dict[str, tuple[bool, str | None]],
        http: ControlHttp | None,
        ip_info: Any,
        throughput: dict[str, Any] | None,
    ) -> None:
        self.dns_addrs = dns_addrs
        self.dns_failure = dns_failure
        self.tcp = tcp
        self.tls = tls
        self.quic = quic
        self.http = http
        self.ip_info = ip_info
        self.throughput = throughput
        self._asn = None
        self._tcp_at = None
        self._tls_at = None

    @property
    def asn(self) -> dict[str, int]:
        if self._asn is None:
            self._asn = _asns(self.ip_info)
        return self._asn

    @property
    def tcp_at(self) -> dict[str, list[tuple[bool, str | None]]]:
        """The tcp results indexed by address: rules ask per address."""
        if self._tcp_at is None:
            self._tcp_at = _by_address(self.tcp)
        return self._tcp_at

    @property
    def tls_at(self) -> dict[str, list[tuple[bool, str | None]]]:
        if self._tls_at is None:
            self._tls_at = _by_address(self.tls)
        return self._tls_at


def _by_address(
    table: dict[str, tuple[bool, str | None]],
) -> dict[str, list[tuple[bool, str | None]]]:
    index: dict[str, list[tuple[bool, str | None]]] = {}
    for key, result in table.items():
        index.setdefault(endpoint_ip(key), []).append(result)
    return index


@dataclass(slots=True, init=False)
class View:
    input: str | None
    host: str
    scheme: str
    queries: list[Query]
    tcp: list[Tcp]
    tls: list[Tls]
    requests: list[Request]  # last request of the redirect chain first
    quic: list[Quic]
    throughput: dict[str, Any] | None
    control: Control | None
    test_keys: dict[str, Any]
    tampered: set[str]  # addresses DNS judged not the site's
    # The control's own answers for the hosts a redirect chain led to (reachwatch's probe
    # asks for them; OONI's measurements have none).
    hop_controls: dict[str, Control]
    # The probe's lookups of a random nonexistent name (x_nxdomain_canary), per resolver.
    canary: list[Query]
    # Worked out on first use: only a few rules ask.
    _ipv6_capable: bool | None = field(repr=False, compare=False)

    def __init__(
        self,
        input: str | None,
        host: str,
        scheme: str,
        queries: list[Query],
        tcp: list[Tcp],
        tls: list[Tls],
        requests: list[Request],
        quic: list[Quic],
        throughput: dict[str, Any] | None,
        control: Control | None,
        test_keys: dict[str, Any],
        tampered: set[str] | None = None,
        hop_controls: dict[str, Control] | None = None,
        canary: list[Query] | None = None,
    ) -> None:
        self.input = input
        self.host = host
        self.scheme = scheme
        self.queries = queries
        self.tcp = tcp
        self.tls = tls
        self.requests = requests
        self.quic = quic
        self.throughput = throughput
        self.control = control
        self.test_keys = test_keys
        self.tampered = set() if tampered is None else tampered
        self.hop_controls = {} if hop_controls is None else hop_controls
        self.canary = [] if canary is None else canary
        self._ipv6_capable = None

    def control_for(self, host: str) -> Control | None:
        """The control's answer for a host of the measurement: the input's own control, or
        the one asked for a redirect hop to that host."""
        if host == self.host:
            return self.control
        return self.hop_controls.get(host)

    def hop_reached_by_control(self, host: str) -> bool | None:
        """For a redirect hop's host with no control answer of its own (OONI's measurements):
        whether the control's fetch went through the whole chain, hence through that host.
        None for the input's host, a hop with its own control answer, or no control fetch."""
        if host == self.host or host in self.hop_controls:
            return None
        return self.chain_fetched_by_control

    @property
    def chain_fetched_by_control(self) -> bool | None:
        """Whether the control fetched the input's whole redirect chain (its fetch went
        through every hop to a final page); None without a control fetch."""
        control = self.control.http if self.control else None
        return None if control is None else control.ok

    def with_requests(self, requests: list[Request]) -> View:
        """The same view with other requests (and its own set of tampered addresses)."""
        return View(
            self.input,
            self.host,
            self.scheme,
            self.queries,
            self.tcp,
            self.tls,
            requests,
            self.quic,
            self.throughput,
            self.control,
            self.test_keys,
            set(self.tampered),
            self.hop_controls,
            self.canary,
        )

    @property
    def ipv6_capable(self) -> bool:
        if self._ipv6_capable is None:
            self._ipv6_capable = _ipv6_capable(self.test_keys, self.tcp)
        return self._ipv6_capable

    @property
    def ooni_http_match(self) -> bool | None:
        """The probe's own body/title/status comparison, when recorded."""
        return _ooni_http_match(self.test_keys)


def view_of(measurement: dict[str, Any], test_keys: dict[str, Any]) -> View:
    """Normalise test_keys; InvalidMeasurement when a key has the wrong shape."""
    target = measurement.get("input")
    if target is not None and not isinstance(target, str):
        target = None  # a few legacy tests measured lists of inputs; they have no single host
    scheme, host = url_scheme_host(target) if target else ("", "")
    tcp = [_tcp(e) for e in _entries(test_keys, "tcp_connect")]
    return View(
        input=target,
        host=host,
        scheme=scheme,
        queries=[_query(e) for e in _entries(test_keys, "queries")],
        tcp=tcp,
        tls=[_tls(e) for e in _entries(test_keys, "tls_handshakes")],
        requests=_requests(test_keys, tcp) or _experiment_failure(test_keys, target),
        quic=[q for e in _entries(test_keys, "x_quic_handshakes") if (q := _quic(e))],
        throughput=_mapping(test_keys, "x_throughput"),
        control=_control(test_keys),
        test_keys=test_keys,
        hop_controls=_hop_controls(test_keys),
        canary=[_query(e) for e in _entries(test_keys, "x_nxdomain_canary")],
    )


# Memos by URL, not by measurement: a corpus fetches the same test-list URLs over and over.
# Both raise ValueError where urlsplit() would (an unclosed IPv6 bracket, a bad port); an
# error is not remembered.
@lru_cache(maxsize=1 << 14)
def url_scheme_host(url: str) -> tuple[str, str]:
    """A URL's scheme and host name, lower-case ("" when absent)."""
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower()


@lru_cache(maxsize=1 << 14)
def url_port(url: str) -> int | None:
    """A URL's explicit port, None when it names none."""
    return urlsplit(url).port


def _entries(test_keys: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = test_keys.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        entries: list[Any] = value  # typed, so the compiled loop walks the list directly
        for e in entries:
            if not isinstance(e, dict):
                break
        else:
            return entries
    raise InvalidMeasurement(f"test_keys.{key} is not a list of objects")


def _mapping(parent: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = parent.get(key)
    if value is None or type(value) is dict:
        return value
    if not isinstance(value, dict):
        raise InvalidMeasurement(f"{key} is {type(value).__name__}, not an object")
    return value


def _str(entry: dict[str, Any], key: str, default: str = "") -> str:
    value = entry.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidMeasurement(f"{key} is {type(value).__name__}, not a string")
    return value


def _failure(entry: dict[str, Any], key: str = "failure") -> str | None:
    value = entry.get(key)
    if value is None or isinstance(value, str):
        return value or None
    raise InvalidMeasurement(f"{key} is {type(value).__name__}, not a string")


def _port(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a port of infinity
        raise InvalidMeasurement(f"port {value!r} is not a number") from None


def _query(e: dict[str, Any]) -> Query:
    # The usual entry (every field a string or absent) without the checks' calls; anything
    # else takes the checked path, which gives the same result or the same error.
    hostname, engine, resolver = e.get("hostname"), e.get("engine"), e.get("resolver_address")
    query_type, failure, answers = e.get("query_type"), e.get("failure"), e.get("answers")
    if (
        (hostname is None or type(hostname) is str)
        and (engine is None or type(engine) is str)
        and (resolver is None or type(resolver) is str)
        and (query_type is None or type(query_type) is str)
        and (failure is None or type(failure) is str)
        and (not answers or type(answers) is list)
    ):
        addrs: list[str] = []
        for a in answers or ():
            if type(a) is not dict:
                return _checked_query(e)
            for ip in (a.get("ipv4"), a.get("ipv6")):
                if isinstance(ip, str) and ip_version(ip) and ip not in addrs:
                    addrs.append(ip)
        return Query(
            (hostname or "").lower().rstrip("."),
            engine or "system",
            resolver or "",
            query_type or "",
            failure or None,
            addrs,
        )
    return _checked_query(e)


def _checked_query(e: dict[str, Any]) -> Query:
    answers = e.get("answers") or []
    if not isinstance(answers, list):
        raise InvalidMeasurement("queries[].answers is not a list")
    addrs: list[str] = []
    for a in answers:
        if not isinstance(a, dict):
            raise InvalidMeasurement("queries[].answers[] is not an object")
        for key in ("ipv4", "ipv6"):
            ip = a.get(key)
            if isinstance(ip, str) and ip_version(ip) and ip not in addrs:
                addrs.append(ip)
    return Query(
        hostname=_str(e, "hostname").lower().rstrip("."),
        engine=_str(e, "engine", "system") or "system",
        resolver=_str(e, "resolver_address"),
        query_type=_str(e, "query_type"),
        failure=_failure(e),
        addrs=addrs,
    )


def _tcp(e: dict[str, Any]) -> Tcp:
    # The usual, well-formed entry without the checks' calls; anything else takes the
    # checked path below, which gives the same result or the same error.
    ip, port, status = e.get("ip"), e.get("port"), e.get("status")
    if type(ip) is str and type(port) is int and type(status) is dict:
        failure = status.get("failure")
        if failure is None or type(failure) is str:
            failure = failure or None
            success = status.get("success")
            ok = success is True if isinstance(success, bool) else failure is None
            where = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
            return Tcp(ip, port, where, ok, failure)
    return _checked_tcp(e)


def _checked_tcp(e: dict[str, Any]) -> Tcp:
    ip = _str(e, "ip")
    port = _port(e.get("port"))
    status = e.get("status")
    if not isinstance(status, dict):
        raise InvalidMeasurement("tcp_connect[].status is not an object")
    failure = _failure(status)
    success = status.get("success")
    ok = success is True if isinstance(success, bool) else failure is None
    return Tcp(ip=ip, port=port, endpoint=endpoint(ip, port), success=ok, failure=failure)


def _tls(e: dict[str, Any]) -> Tls:
    # The usual entry without the checks' calls; anything else takes the checked path.
    address, name, failure = e.get("address"), e.get("server_name"), e.get("failure")
    if (
        (address is None or type(address) is str)
        and (name is None or type(name) is str)
        and (failure is None or type(failure) is str)
    ):
        address = address or None
        return Tls(
            endpoint=address,
            ip=endpoint_ip(address) if address else None,
            server_name=(name or "").lower(),
            failure=failure or None,
            decoy=e.get("x_decoy_sni") is True,
            verified=e.get("no_tls_verify") is not True,
            cert_error=_cert_error(e),
        )
    return _checked_tls(e)


def _checked_tls(e: dict[str, Any]) -> Tls:
    address = _str(e, "address") or None
    return Tls(
        endpoint=address,
        ip=endpoint_ip(address) if address else None,
        server_name=_str(e, "server_name").lower(),
        failure=_failure(e),
        decoy=e.get("x_decoy_sni") is True,
        verified=e.get("no_tls_verify") is not True,
        cert_error=_cert_error(e),
    )


def _cert_error(e: dict[str, Any]) -> str | None:
    cert_error = e.get("x_cert_error")
    return cert_error if type(cert_error) is str else None


def _quic(e: dict[str, Any]) -> Quic | None:
    address = _str(e, "address")
    if not address:
        return None
    return Quic(address, endpoint_ip(address), _str(e, "server_name").lower(), _failure(e))


def _requests(test_keys: dict[str, Any], tcp: list[Tcp]) -> list[Request]:
    # OONI v0.5 links a request to its connection only through the transaction id; `tcp`
    # holds the endpoints of test_keys.tcp_connect, entry for entry.
    by_transaction = (
        {
            e.get("transaction_id"): t.endpoint
            for e, t in zip(_entries(test_keys, "tcp_connect"), tcp, strict=True)
            if e.get("transaction_id") is not None
        }
        if tcp
        else {}
    )
    out = []
    for e in _entries(test_keys, "requests"):
        request = _mapping(e, "request") or {}
        response = _mapping(e, "response") or {}
        code = response.get("code")
        status = code if isinstance(code, int) and not isinstance(code, bool) else 0
        body = response.get("body")
        if type(body) is not str:
            body = _text(body)
        address = e.get("address")
        if not (isinstance(address, str) and address):
            address = by_transaction.get(e.get("transaction_id"))
        length = response.get("x_body_length")
        out.append(
            Request(
                _str(request, "url"),
                _failure(e),
                status,
                body,
                _headers(response),
                address,
                length if isinstance(length, int) else len(body),
                response.get("body_is_truncated") is True,
            )
        )
    return out


def _experiment_failure(test_keys: dict[str, Any], target: str | None) -> list[Request]:
    """Old web_connectivity versions may record why the fetch failed without its request."""
    failure = test_keys.get("http_experiment_failure")
    if not isinstance(failure, str) or not failure or not target:
        return []
    return [Request(target, failure, 0, "", {}, None, 0, False)]


def _text(value: Any) -> str:
    """A body as text: OONI stores non-UTF-8 bodies as {"format": "base64", "data": ...}."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("data"), str):
        data = value["data"][: SCAN_LIMIT * 4 // 3 + 4]
        try:
            raw = base64.b64decode(data[: len(data) - len(data) % 4])
        except (binascii.Error, ValueError):
            return ""
        return raw.decode("utf-8", errors="replace")
    raise InvalidMeasurement(f"response body is {type(value).__name__}")


def _headers(response: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    listed = response.get("headers_list")
    if isinstance(listed, list):
        for pair in listed:
            if isinstance(pair, list) and len(pair) == 2:
                name, value = pair
                if type(name) is str and type(value) is str:  # the usual pair, unconverted
                    out.setdefault(name.lower(), value)
                else:
                    out.setdefault(str(name).lower(), _text(value))
        return out
    headers = response.get("headers")
    if headers is None:
        return out
    if not isinstance(headers, dict):
        raise InvalidMeasurement("response headers are not an object")
    for name, value in headers.items():
        if isinstance(value, list):
            value = value[0] if value else ""
        out[str(name).lower()] = value if type(value) is str else _text(value)
    return out


def _title(body: str) -> str | None:
    found = _TITLE.search(body, 0, 64 * 1024) if body else None
    return " ".join(found.group(1).split()) if found else None


def _pairs(value: Any, where: str) -> dict[str, tuple[bool, str | None]]:
    """control.tcp_connect / tls_handshake / quic_handshake: {"ip:port": {status, failure}}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidMeasurement(f"control.{where} is not an object")
    out = {}
    for key, entry in value.items():
        if not isinstance(entry, dict):
            raise InvalidMeasurement(f"control.{where}[{key!r}] is not an object")
        failure = entry.get("failure")
        if failure is not None and type(failure) is not str:
            failure = _failure(entry)  # raises, naming the wrong type
        failure = failure or None
        if is_probe_fault(failure):
            continue  # the control's own fault says nothing about the endpoint
        status = entry.get("status")
        out[str(key)] = (status is True if isinstance(status, bool) else failure is None, failure)
    return out


def _control(test_keys: dict[str, Any]) -> Control | None:
    found = _control_answer(test_keys)
    # A control that cannot work proves nothing: every rule that needs one must say so.
    if found is None or _broken(found, test_keys) is not None:
        return None
    return found


def _control_answer(test_keys: dict[str, Any]) -> Control | None:
    control = _mapping(test_keys, "control")
    if not control or test_keys.get("control_failure"):
        return None
    dns = _mapping(control, "dns") or {}
    addrs = dns.get("addrs") or []
    if not isinstance(addrs, list):
        raise InvalidMeasurement("control.dns.addrs is not a list")
    http = _mapping(control, "http_request")
    if http is not None and is_probe_fault(_failure(http)):
        http = None  # the control's own fault: it has no view of the page
    return Control(
        dns_addrs=[a for a in addrs if isinstance(a, str) and ip_version(a)],
        dns_failure=_failure(dns),
        tcp=_pairs(control.get("tcp_connect"), "tcp_connect"),
        tls=_pairs(control.get("tls_handshake"), "tls_handshake"),
        quic=_pairs(control.get("quic_handshake"), "quic_handshake"),
        http=_control_http(http) if http is not None else None,
        ip_info=control.get("ip_info"),
        throughput=_mapping(control, "x_throughput"),
    )


def _hop_controls(test_keys: dict[str, Any]) -> dict[str, Control]:
    """x_redirect_controls by host: the first usable answer for each hop's host."""
    out: dict[str, Control] = {}
    for hop in _entries(test_keys, "x_redirect_controls"):
        url = hop.get("url")
        if not isinstance(url, str):
            raise InvalidMeasurement("x_redirect_controls[].url is not a string")
        try:
            host = url_scheme_host(url)[1]
        except ValueError:
            continue
        control = _control(hop)
        if host and control is not None and host not in out:
            out[host] = control
    return out


def control_broken(test_keys: dict[str, Any]) -> str | None:
    """Why the control's answer in these test_keys is unusable (it resolved nothing and
    reached nothing, though the name resolves for the probe), None when it is usable or
    absent. Raises InvalidMeasurement on a malformed control answer."""
    found = _control_answer(test_keys)
    return None if found is None else _broken(found, test_keys)


# Answers a working resolver gives for a name that does not exist: a control that gets them
# has a network.
_NO_SUCH_NAME = "dns_no_answer"


def _broken(control: Control, test_keys: dict[str, Any]) -> str | None:
    failure = control.dns_failure
    if control.dns_addrs or failure is None or is_nxdomain(failure) or failure == _NO_SUCH_NAME:
        return None
    if any(ok for ok, _ in control.tcp.values()) or any(ok for ok, _ in control.tls.values()):
        return None
    if control.http is not None and control.http.ok:
        return None
    resolved = any(
        isinstance(q, dict) and q.get("answers") and not q.get("failure")
        for q in test_keys.get("queries") or []
    )
    if not resolved:
        return None  # the name may resolve nowhere: then the control's failure is no fault
    return f"it could not resolve a name the probe resolved ({failure}) and reached nothing"


def _control_http(http: dict[str, Any]) -> ControlHttp:
    title = http.get("title")
    return ControlHttp(
        failure=_failure(http),
        status=_number(http.get("status_code")),
        body_length=_number(http.get("body_length")),
        title=" ".join(title.split()) if isinstance(title, str) else "",
    )


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _asns(ip_info: Any) -> dict[str, int]:
    if not isinstance(ip_info, dict):
        return {}
    out = {}
    for ip, info in ip_info.items():
        asn = info.get("asn") if isinstance(info, dict) else None
        if isinstance(asn, int) and asn > 0:
            out[str(ip)] = asn
    return out


def _ipv6_capable(test_keys: dict[str, Any], tcp: list[Tcp]) -> bool:
    """Whether this network reaches IPv6 at all: the probe's own check when recorded, else
    inferred (every IPv6 connect failing as unreachable means there is no IPv6 route)."""
    declared = test_keys.get("x_ipv6_capable")
    if isinstance(declared, bool):
        return declared
    v6 = [t for t in tcp if ip_version(t.ip) == 6]
    if any(t.success for t in v6):
        return True
    return not (v6 and all(t.failure and is_unreachable(t.failure) for t in v6))


def _ooni_http_match(test_keys: dict[str, Any]) -> bool | None:
    """OONI's probe-side comparison of the final page with the control's, computed on the full
    body (stored bodies may be cut): status matches and body length, headers or title too."""
    status = test_keys.get("status_code_match")
    others = [test_keys.get(k) for k in ("body_length_match", "headers_match", "title_match")]
    if not isinstance(status, bool) or not any(isinstance(v, bool) for v in others):
        return None
    return status and any(v is True for v in others)
