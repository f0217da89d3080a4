"""The facts of a measurement: what was measured, one row per DNS answer, TCP connect, TLS or
QUIC handshake, HTTP request and throughput sample, the probe's and the control's, apart from
what the classifier concluded from them.

Rows are read from the record the classifier was given, parsed once, with the classifier's own
normalisation (host names lower-case without the final dot, "" failures as none, endpoints
split as `reachwatch.net` splits them). They are read from the record rather than from the
classifier's view because the view keeps only what its rules need: it leaves out timings, the
probe's ASN annotations, TLS versions, and the control's entries that failed through the
control's own fault, or all of them when the control is unusable; a fact is kept either way.

Each fact is FACT_WIDTH values appended to one flat list, in the order of
reachwatch.store.schema.FACTS_COLUMNS less the columns a fact shares with its measurement
(the writer fills those in); malformed values read as NULL, never as an error, since the
classifier has already accepted the record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reachwatch.classify._view import url_scheme_host
from reachwatch.net import endpoint_ip, is_certificate_error
from reachwatch.store import FACT_OWN_COLUMNS

FACT_WIDTH = len(FACT_OWN_COLUMNS)

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_PROBE = "probe"
_CONTROL = "control"
# What a TLS handshake said of the server's certificate: valid when verification was asked
# for and passed, invalid when it failed on the certificate, unknown otherwise.
_NOT_CHECKED: bool | None = None


def ooni_facts(record: Mapping[str, Any]) -> list[Any]:
    """The facts of an OONI-format measurement (web_connectivity, the app tests, urlgetter,
    reachwatch's probe output), flat, FACT_WIDTH values a fact."""
    test_keys = record.get("test_keys")
    if not isinstance(test_keys, dict):
        return []
    target = record.get("input")
    host = _host(target) if type(target) is str else None
    out: list[Any] = []
    control = test_keys.get("control")
    control_asns = _control_asns(control)
    asns: dict[str, int] = {}  # the probe's ASN annotation of each address, filled by _dns
    names = _dns(out, test_keys.get("queries"), asns, control_asns)
    _dns(out, test_keys.get("x_nxdomain_canary"), asns, control_asns)
    known = _Known(names, asns, control_asns)
    tcp = test_keys.get("tcp_connect")
    _tcp(out, tcp, known, host)
    _handshakes(out, test_keys.get("tls_handshakes"), "tls_handshake", known)
    _http(out, test_keys, tcp, target, known)
    _handshakes(out, test_keys.get("x_quic_handshakes"), "quic_handshake", known)
    _throughput(out, test_keys.get("x_throughput"), _PROBE, known)
    _control(out, control, host, target, _Known({}, control_asns, asns))
    hops = test_keys.get("x_redirect_controls")
    if isinstance(hops, list):
        for hop in hops:
            if isinstance(hop, dict) and type(hop.get("url")) is str:
                url = hop["url"]
                hop_control = hop.get("control")
                hop_known = _Known({}, _control_asns(hop_control), asns)
                _control(out, hop_control, _host(url), url, hop_known)
    return out


class _Known:
    """What one side's facts draw on besides their own entry: which host each address was
    resolved for, and the ASN annotations of addresses (this side's first)."""

    def __init__(
        self, names: dict[str, str], first: dict[str, int], second: dict[str, int]
    ) -> None:
        self.names = names
        self.first = first
        self.second = second

    def asn(self, ip: str | None) -> int | None:
        if ip is None:
            return None
        found = self.first.get(ip)
        return found if found is not None else self.second.get(ip)


def _fact(
    out: list[Any],
    kind: str,
    side: str,
    entry: int,
    *,
    hop: int | None = None,
    transaction_id: int | None = None,
    hostname: str | None = None,
    ip: str | None = None,
    port: int | None = None,
    ip_asn: int | None = None,
    dns: tuple[str | None, str | None, str | None] = (None, None, None),
    failure: str | None = None,
    success: bool | None = None,
    tls: tuple[str | None, str | None, bool | None, str | None, bool | None] = (
        None,
        None,
        None,
        None,
        None,
    ),
    http: tuple[str | None, int | None, str | None, int | None, bool | None, str | None] = (
        None,
        None,
        None,
        None,
        None,
        None,
    ),
    t0: float | None = None,
    t: float | None = None,
    throughput: tuple[int | None, float | None, int | None] = (None, None, None),
) -> None:
    """Append one fact; the order is FACT_OWN_COLUMNS'. dns: (query_type, engine, resolver);
    tls: (server_name, version, certificate valid, cert error, decoy SNI); http: (url,
    status, title, body length, truncated, location); throughput: (bytes, seconds, samples)."""
    # One tuple a fact: the grouped arguments are C structs in the compiled module, read
    # field by field here without being boxed.
    out.extend(
        (
            kind, side, entry, hop, transaction_id, hostname, ip, port, ip_asn,
            dns[0], dns[1], dns[2], failure, success,
            tls[0], tls[1], tls[2], tls[3], tls[4],
            http[0], http[1], http[2], http[3], http[4], http[5],
            t0, t, throughput[0], throughput[1], throughput[2],
        )
    )  # fmt: skip


# -- probe side -----------------------------------------------------------------------------


def _dns(
    out: list[Any], queries: Any, asns: dict[str, int], control_asns: dict[str, int]
) -> dict[str, str]:
    """One dns_answer per address a lookup gave, or one dns_failure for a lookup that gave
    none (with its failure string; NULL when it ended without error, e.g. a CNAME only).
    Returns which host each address was resolved for; records the ASN each answer is
    annotated with (OONI's answers[].asn) in `asns`."""
    names: dict[str, str] = {}
    if not isinstance(queries, list):
        return names
    for i, q in enumerate(queries):
        if not isinstance(q, dict):
            continue
        hostname = _text(q.get("hostname"))
        if hostname is not None:
            hostname = hostname.lower().rstrip(".")
        dns = (
            _text(q.get("query_type")),
            _text(q.get("engine")) or "system",
            _text(q.get("resolver_address")),
        )
        failure = _text(q.get("failure"))
        transaction, t0, t = _int(q.get("transaction_id")), _num(q.get("t0")), _num(q.get("t"))
        seen: list[str] = []
        answers = q.get("answers")
        for a in answers if isinstance(answers, list) else ():
            if not isinstance(a, dict):
                continue
            ip = a.get("ipv4") or a.get("ipv6")
            if type(ip) is not str or not ip or ip in seen:
                continue
            seen.append(ip)
            if hostname:
                names.setdefault(ip, hostname)
            asn = a.get("asn")
            if type(asn) is int and 0 < asn < (1 << 32):
                asns.setdefault(ip, asn)
            else:
                asn = control_asns.get(ip)
            _fact(out, "dns_answer", _PROBE, i, transaction_id=transaction, hostname=hostname,
                  ip=ip, ip_asn=asn, dns=dns, failure=failure, success=True,
                  t0=t0, t=t)  # fmt: skip
        if not seen:
            _fact(out, "dns_failure", _PROBE, i, transaction_id=transaction, hostname=hostname,
                  dns=dns, failure=failure, success=False, t0=t0, t=t)  # fmt: skip
    return names


def _tcp(out: list[Any], entries: Any, known: _Known, host: str | None) -> None:
    if not isinstance(entries, list):
        return
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            continue
        ip = _text(e.get("ip"))
        status = e.get("status")
        status = status if isinstance(status, dict) else {}
        failure = _text(status.get("failure"))
        success = status.get("success")
        _fact(out, "tcp_connect", _PROBE, i, transaction_id=_int(e.get("transaction_id")),
              hostname=known.names.get(ip, host) if ip else host, ip=ip,
              port=_small(e.get("port")), ip_asn=known.asn(ip), failure=failure,
              success=success if type(success) is bool else failure is None,
              t0=_num(e.get("t0")), t=_num(e.get("t")))  # fmt: skip


def _handshakes(out: list[Any], entries: Any, kind: str, known: _Known) -> None:
    """TLS handshakes, or QUIC ones (whose TLS is the same): tls_handshakes,
    x_quic_handshakes."""
    if not isinstance(entries, list):
        return
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            continue
        ip, port = _endpoint(e.get("address"))
        server_name = _text(e.get("server_name"))
        server_name = server_name.lower() if server_name else None
        decoy = e.get("x_decoy_sni") is True
        failure = _text(e.get("failure"))
        cert_error = _text(e.get("x_cert_error"))
        tls = (server_name, _text(e.get("tls_version")),
               _certificate_valid(failure, cert_error, e.get("no_tls_verify") is True),
               cert_error, decoy)  # fmt: skip
        hostname = known.names.get(ip) if ip and (decoy or not server_name) else server_name
        _fact(out, kind, _PROBE, i, transaction_id=_int(e.get("transaction_id")),
              hostname=hostname, ip=ip, port=port, ip_asn=known.asn(ip),
              failure=failure, success=failure is None, tls=tls, t0=_num(e.get("t0")),
              t=_num(e.get("t")))  # fmt: skip


def _certificate_valid(
    failure: str | None, cert_error: str | None, unverified: bool
) -> bool | None:
    if cert_error is not None or (failure is not None and is_certificate_error(failure)):
        return False
    if unverified:
        return _NOT_CHECKED
    return True if failure is None else _NOT_CHECKED


def _http(
    out: list[Any],
    test_keys: dict[str, Any],
    tcp: Any,
    target: Any,
    known: _Known,
) -> None:
    """One http_request per request: OONI lists a redirect chain's last request first, so hop
    0 (the input URL) is the last entry."""
    requests = test_keys.get("requests")
    if not isinstance(requests, list) or not requests:
        failure = _text(test_keys.get("http_experiment_failure"))
        if failure is not None and type(target) is str and target:
            # Old web_connectivity versions record why the fetch failed without its request.
            http = (target, None, None, None, None, None)
            _fact(out, "http_request", _PROBE, 0, hop=0, hostname=_host(target),
                  failure=failure, success=False, http=http)  # fmt: skip
        return
    by_transaction = _endpoints_by_transaction(tcp)
    last = len(requests) - 1
    for i, e in enumerate(requests):
        if not isinstance(e, dict):
            continue
        request = e.get("request")
        url = _text(request.get("url")) if isinstance(request, dict) else None
        response = e.get("response")
        response = response if isinstance(response, dict) else {}
        address = _text(e.get("address"))
        transaction = _int(e.get("transaction_id"))
        if address is None and transaction is not None:
            address = by_transaction.get(transaction)
        ip, port = _endpoint(address)
        failure = _text(e.get("failure"))
        code = _small(response.get("code"))
        _fact(out, "http_request", _PROBE, i, hop=last - i, transaction_id=transaction,
              hostname=_host(url) if url else None, ip=ip, port=port,
              ip_asn=known.asn(ip), failure=failure,
              success=failure is None and code is not None and code > 0,
              http=_response(url, code, response), t0=_num(e.get("t0")),
              t=_num(e.get("t")))  # fmt: skip


def _response(
    url: str | None, code: int | None, response: dict[str, Any]
) -> tuple[str | None, int | None, str | None, int | None, bool | None, str | None]:
    body = response.get("body")
    length = _int(response.get("x_body_length"))
    text: str | None = body if type(body) is str else None
    if length is None:
        if text is not None:
            length = len(text)
        elif isinstance(body, dict) and type(body.get("data")) is str:
            data = body["data"]  # base64: three bytes for every four characters
            length = len(data) * 3 // 4 - len(data[-2:]) + len(data[-2:].rstrip("="))
    title = _text(response.get("x_title"))
    if title is None and text:
        title = _title(text)
    truncated = response.get("body_is_truncated")
    return (
        url,
        code if code is not None and code > 0 else None,
        title,
        length if response else None,
        truncated if type(truncated) is bool else None,
        _location(response) if code is not None and 300 <= code < 400 else None,
    )


def _location(response: dict[str, Any]) -> str | None:
    """The Location header: asked of redirects only (the control's answer has none, since
    its fetch follows them)."""
    headers = response.get("headers")
    if isinstance(headers, dict):
        for name, value in headers.items():
            if type(name) is str and name.lower() == "location":
                if isinstance(value, list):
                    value = value[0] if value else None
                return _text(value)
    listed = response.get("headers_list")
    if isinstance(listed, list):
        for pair in listed:
            named = isinstance(pair, list) and len(pair) == 2 and type(pair[0]) is str
            if named and pair[0].lower() == "location":
                return _text(pair[1])
    return None


def _title(body: str) -> str | None:
    """The page title as the classifier reads it: the first in the first 64 KiB, its white
    space collapsed."""
    found = _TITLE.search(body, 0, 64 * 1024)
    return " ".join(found.group(1).split()) if found else None


def _throughput(out: list[Any], sample: Any, side: str, known: _Known) -> None:
    if not isinstance(sample, dict):
        return
    url = _text(sample.get("url"))
    ip = _text(sample.get("address"))
    if ip is not None and (ip.startswith("[") or ip.count(":") == 1):
        ip, port = _endpoint(ip)
    else:
        port = None
    code = _small(sample.get("status_code"))
    failure = _text(sample.get("failure"))
    points = sample.get("samples")
    _fact(out, "throughput_sample", side, 0, hostname=_host(url) if url else None, ip=ip,
          port=port, ip_asn=known.asn(ip), failure=failure, success=failure is None,
          http=(url, code, None, None, None, None),
          throughput=(_int(sample.get("bytes")), _num(sample.get("seconds")),
                      len(points) if isinstance(points, list) else None))  # fmt: skip


# -- control side ---------------------------------------------------------------------------


def _control(
    out: list[Any],
    control: Any,
    host: str | None,
    url: Any,
    known: _Known,
) -> None:
    """The control's (OONI test helper's) answer for the input or a redirect hop's host."""
    if not isinstance(control, dict):
        return
    dns = control.get("dns")
    if isinstance(dns, dict):
        failure = _text(dns.get("failure"))
        addrs = dns.get("addrs")
        seen = 0
        for i, ip in enumerate(addrs if isinstance(addrs, list) else ()):
            if type(ip) is str and ip:
                seen += 1
                _fact(out, "dns_answer", _CONTROL, i, hostname=host, ip=ip,
                      ip_asn=known.asn(ip), failure=failure, success=True)  # fmt: skip
        if not seen:
            _fact(out, "dns_failure", _CONTROL, 0, hostname=host, failure=failure,
                  success=False)  # fmt: skip
    for key, kind in (
        ("tcp_connect", "tcp_connect"),
        ("tls_handshake", "tls_handshake"),
        ("quic_handshake", "quic_handshake"),
    ):
        _control_endpoints(out, control.get(key), kind, host, known)
    http = control.get("http_request")
    if isinstance(http, dict):
        failure = _text(http.get("failure"))
        code = _small(http.get("status_code"))
        length = _int(http.get("body_length"))
        title = http.get("title")
        title = " ".join(title.split()) if type(title) is str else None
        _fact(out, "http_request", _CONTROL, 0, hostname=host, failure=failure,
              success=failure is None and code is not None and code > 0,
              http=(url if type(url) is str else None, code if code and code > 0 else None,
                    title, length if length is not None and length >= 0 else None, None,
                    None))  # fmt: skip
    _throughput(out, control.get("x_throughput"), _CONTROL, known)


def _control_endpoints(
    out: list[Any],
    table: Any,
    kind: str,
    host: str | None,
    known: _Known,
) -> None:
    """control.tcp_connect / tls_handshake / quic_handshake: {"ip:port": {status, failure}}."""
    if not isinstance(table, dict):
        return
    for i, (key, entry) in enumerate(table.items()):
        if not isinstance(entry, dict) or type(key) is not str:
            continue
        ip, port = _endpoint(key)
        failure = _text(entry.get("failure"))
        status = entry.get("status")
        name = _text(entry.get("server_name"))
        tls = (name.lower() if name else None, None, None, None, None)
        _fact(out, kind, _CONTROL, i, hostname=host, ip=ip, port=port,
              ip_asn=known.asn(ip), failure=failure,
              success=status if type(status) is bool else failure is None,
              tls=tls)  # fmt: skip


# -- small readers --------------------------------------------------------------------------


def _control_asns(control: Any) -> dict[str, int]:
    """The ASN the control annotated each address with (control.ip_info)."""
    out: dict[str, int] = {}
    info = control.get("ip_info") if isinstance(control, dict) else None
    if isinstance(info, dict):
        for ip, entry in info.items():
            asn = entry.get("asn") if isinstance(entry, dict) else None
            if type(asn) is int and asn > 0 and type(ip) is str:
                out[ip] = asn
    return out


def _endpoints_by_transaction(tcp: Any) -> dict[int, str]:
    """OONI v0.5 links a request to its connection only through the transaction id."""
    out: dict[int, str] = {}
    for e in tcp if isinstance(tcp, list) else ():
        if isinstance(e, dict):
            transaction, ip, port = e.get("transaction_id"), e.get("ip"), e.get("port")
            if type(transaction) is int and type(ip) is str and type(port) is int:
                out[transaction] = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    return out


def _endpoint(address: Any) -> tuple[str | None, int | None]:
    """("1.2.3.4", 443) from "1.2.3.4:443", ("::1", 443) from "[::1]:443"."""
    if type(address) is not str or not address:
        return None, None
    ip = endpoint_ip(address)
    rest = address[len(ip) + 3 :] if address.startswith("[") else address[len(ip) + 1 :]
    return ip or None, _int_text(rest)


def _int_text(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 5 else None


def _host(url: str) -> str | None:
    try:
        return url_scheme_host(url)[1] or None
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return value if type(value) is str and value else None


def _int(value: Any) -> int | None:
    """A JSON integer that fits the BIGINT columns; a port or status code out of range for
    INTEGER is cut by _small."""
    return value if type(value) is int and -(1 << 63) <= value < (1 << 63) else None


def _small(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value < (1 << 31) else None


def _num(value: Any) -> float | None:
    if type(value) is float:
        return value
    return float(value) if type(value) is int else None
