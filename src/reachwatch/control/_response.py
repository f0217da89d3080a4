"""Turn the probe's OONI entries into the pieces of OONI's test-helper response."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from reachwatch.control._safety import IPAddress, is_bogon, refusal_reason
from reachwatch.net import DNS_NXDOMAIN
from reachwatch.probe import steps

# OONI's ip_info flag bits.
FLAG_RESOLVED_BY_PROBE = 1
FLAG_RESOLVED_BY_TH = 2
FLAG_BOGON = 4
FLAG_VALID_FOR_DOMAIN = 8

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


def dns_entry(queries: list[dict[str, Any]]) -> dict[str, Any]:
    """`{failure, addrs}` from OONI DNS query entries (A and AAAA, one engine)."""
    addrs = steps.addresses_of(queries)
    failures = [q["failure"] for q in queries if isinstance(q.get("failure"), str)]
    if addrs:
        return {"failure": None, "addrs": addrs}
    # An NXDOMAIN on one query type and "no answer" on the other is an NXDOMAIN.
    if DNS_NXDOMAIN in failures:
        return {"failure": DNS_NXDOMAIN, "addrs": []}
    return {"failure": failures[0] if failures else "dns_no_answer", "addrs": []}


def _not_run(why: str, ip: IPAddress | None) -> dict[str, Any]:
    """The entry of a step the control did not run: refused by policy, or out of budget."""
    entry: dict[str, Any] = {"status": False, "failure": why}
    if why == "x_refused_port":
        entry["x_refused_reason"] = "port_not_allowed"
    elif why == "x_refused_address" and ip is not None:
        entry["x_refused_reason"] = refusal_reason(ip)
    return entry


def tcp_entry(
    entry: dict[str, Any] | None, *, not_run: str = "", ip: IPAddress | None = None
) -> dict[str, Any]:
    """`{status, failure}` from a probe tcp_connect entry, or for a step that was not run."""
    if entry is None:
        return _not_run(not_run, ip)
    failure = entry["status"]["failure"]
    return {"status": failure is None, "failure": failure}


def tls_entry(
    server_name: str,
    entry: dict[str, Any] | None,
    *,
    not_run: str = "",
    ip: IPAddress | None = None,
) -> dict[str, Any]:
    """`{server_name, status, failure}` from a probe tls_handshakes entry."""
    if entry is None:
        return {"server_name": server_name, **_not_run(not_run, ip)}
    failure = entry.get("failure")
    return {"server_name": server_name, "status": failure is None, "failure": failure}


def quic_entry(
    server_name: str,
    entry: dict[str, Any] | None,
    *,
    not_run: str = "",
    ip: IPAddress | None = None,
) -> dict[str, Any]:
    """`{server_name, status, failure, alpn}` from a probe x_quic_handshakes entry: a TLS
    handshake's answer, plus the protocol negotiated."""
    out = tls_entry(server_name, entry, not_run=not_run, ip=ip)
    if entry is not None:
        out["alpn"] = entry.get("alpn")
    return out


def _body_bytes(response: dict[str, Any]) -> bytes:
    body = response.get("body")
    if isinstance(body, dict) and body.get("format") == "base64":
        return base64.b64decode(str(body.get("data", "")))
    if isinstance(body, str):
        return body.encode("utf-8", "surrogateescape")
    return b""


def _headers(response: dict[str, Any]) -> dict[str, str]:
    headers = response.get("headers")
    if isinstance(headers, dict):
        return {str(k): str(v) for k, v in headers.items()}
    pairs = response.get("headers_list") or []
    return {str(k): str(v) for k, v in pairs}


def http_request_entry(chain: list[dict[str, Any]], failure: str | None) -> dict[str, Any]:
    """`{body_length, failure, title, headers, status_code}` for the final response.

    As OONI's helper does, `body_length` and `status_code` are -1 when no response came.
    """
    response = (chain[0].get("response") if chain else None) or {}
    code = response.get("code")
    # A redirect whose next hop failed is a failure, not the final answer.
    redirect_failed = failure is not None and code in REDIRECT_CODES
    if not isinstance(code, int) or code <= 0 or redirect_failed:
        return {
            "body_length": -1,
            "failure": failure or "unknown_failure",
            "title": "",
            "headers": {},
            "status_code": -1,
        }
    body = _body_bytes(response)
    length = response.get("x_body_length")
    title = response.get("x_title")
    return {
        "body_length": length if isinstance(length, int) else len(body),
        "failure": failure,
        "title": title if isinstance(title, str) else "",
        "headers": _headers(response),
        "status_code": code,
        "x_body_is_truncated": bool(response.get("body_is_truncated")),
    }


def ip_info(
    *,
    given: Iterable[IPAddress],
    resolved: Iterable[IPAddress],
    valid_for_domain: set[IPAddress],
) -> dict[str, dict[str, int]]:
    """OONI's `ip_info`: per address, its ASN (0: unknown here) and flag bits."""
    flags: dict[IPAddress, int] = {}
    for ip in given:
        flags[ip] = flags.get(ip, 0) | FLAG_RESOLVED_BY_PROBE
    for ip in resolved:
        flags[ip] = flags.get(ip, 0) | FLAG_RESOLVED_BY_TH
    info: dict[str, dict[str, int]] = {}
    for ip, bits in flags.items():
        if is_bogon(ip):
            bits |= FLAG_BOGON
        if ip in valid_for_domain:
            bits |= FLAG_VALID_FOR_DOMAIN
        # reachwatch ships no IP-to-ASN table; OONI's convention for "unknown" is 0.
        info[str(ip)] = {"asn": 0, "flags": bits}
    return info
