"""Synthetic web_connectivity measurements in OONI's envelope (test_version 0.5 layout: one
tcp_connect and tls_handshakes entry per address, requests, and the test helper's control).

Every measurement is labelled synthetic: software_name "reachwatch-simulate" and the
annotation x_synthetic "true".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

SOFTWARE_NAME = "reachwatch-simulate"
SOFTWARE_VERSION = "0.1.0"

# What one simulated measurement shows. "down": the site fails for the control as well;
# "no_control": the probe failed and the test helper could not be reached (cannot tell).
Outcome = Literal[
    "accessible",
    "down",
    "no_control",
    "dns.nxdomain",
    "dns.bogon",
    "tcp.timeout",
    "tcp.reset",
    "tls.reset",
    "tls.timeout",
]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
BLOCKING_OUTCOMES: tuple[str, ...] = OUTCOMES[3:]


@dataclass(frozen=True, slots=True)
class Site:
    """A host as the simulator serves it: the addresses the control resolves, and the CDN
    addresses some probes get instead (different from the control's, but genuine)."""

    host: str
    title: str
    ipv4: tuple[str, ...]
    asn: int
    ipv6: tuple[str, ...] = ()
    cdn_ipv4: tuple[str, ...] = ()


# Addresses are data in a synthetic file; nothing ever connects to them.
SITES: dict[str, Site] = {
    s.host: s
    for s in (
        Site("x.com", "X. It's what's happening / X", ("104.244.42.1", "104.244.42.65"), 13414),
        Site("twitter.com", "X. It's what's happening / X", ("104.244.42.193",), 13414),
        Site("api.x.com", "", ("104.244.42.66",), 13414),
        Site("t.co", "", ("104.244.42.69",), 13414),
        Site(
            "abs.twimg.com",
            "",
            ("151.101.0.159", "151.101.64.159"),
            54113,
            ipv6=("2a04:4e42::159",),
            cdn_ipv4=("146.75.52.159", "146.75.116.159"),
        ),
        Site(
            "pbs.twimg.com",
            "",
            ("151.101.36.159",),
            54113,
            ipv6=("2a04:4e42:200::159",),
            cdn_ipv4=("146.75.120.159",),
        ),
        Site(
            "www.wikipedia.org",
            "Wikipedia",
            ("103.102.166.224",),
            14907,
            ipv6=("2001:df2:e500:ed1a::1",),
        ),
    )
}

_URLS = {
    "abs.twimg.com": "https://abs.twimg.com/favicons/twitter.3.ico",
    "pbs.twimg.com": "https://pbs.twimg.com/",
}


def url_of(host: str) -> str:
    return _URLS.get(host, f"https://{host}/")


@dataclass(frozen=True, slots=True)
class Probe:
    """The probe side of one measurement."""

    cc: str
    asn: str
    ipv6: bool  # whether the probe's network can reach IPv6 at all
    cdn_answer: bool  # the resolver answers with the CDN's local addresses


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _letters(rng: random.Random, n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(n))


def _time(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _body(site: Site) -> str:
    head = f"<head><title>{site.title}</title></head>"
    return f"<!doctype html><html>{head}<body>{site.host}</body></html>"


def web_connectivity(
    rng: random.Random, probe: Probe, host: str, t: datetime, outcome: str
) -> dict[str, Any]:
    """One measurement of `host` from `probe` at `t`, showing `outcome`."""
    site = SITES[host]
    url = url_of(host)
    stamp = t.strftime("%Y%m%d%H%M%S")
    asn_number = probe.asn[2:]
    micro = rng.randrange(10**6)
    uid_key = _hex(rng, 16)
    report_stamp = t.strftime("%Y%m%dT%H%M%SZ")
    report_key = _letters(rng, 16)
    keys = _test_keys(rng, probe, site, url, outcome)
    return {
        "annotations": {
            "x_synthetic": "true",
            "engine_name": SOFTWARE_NAME,
            "network_type": rng.choice(("wifi", "mobile")),
            "platform": rng.choice(("android", "linux", "windows")),
        },
        "data_format_version": "0.2.0",
        "input": url,
        "measurement_start_time": _time(t),
        "measurement_uid": f"{stamp}.{micro:06d}_{probe.cc}_webconnectivity_{uid_key}",
        "probe_asn": probe.asn,
        "probe_cc": probe.cc,
        "probe_ip": "127.0.0.1",
        "probe_network_name": "",
        "report_id": f"{report_stamp}_webconnectivity_{probe.cc}_{asn_number}_n1_{report_key}",
        "resolver_asn": probe.asn,
        "resolver_ip": "127.0.0.2",
        "resolver_network_name": "",
        "software_name": SOFTWARE_NAME,
        "software_version": SOFTWARE_VERSION,
        "test_helpers": {"backend": {"address": "https://th.invalid", "type": "https"}},
        "test_name": "web_connectivity",
        "test_runtime": round(rng.uniform(0.8, 6.0), 3),
        "test_start_time": _time(t),
        "test_version": "0.5.28",
        "test_keys": keys,
    }


def _probe_addresses(rng: random.Random, probe: Probe, site: Site) -> tuple[list[str], list[str]]:
    v4 = list(site.cdn_ipv4) if probe.cdn_answer and site.cdn_ipv4 else list(site.ipv4)
    return [rng.choice(v4)] if len(v4) > 1 and rng.random() < 0.5 else v4, list(site.ipv6)


def _test_keys(
    rng: random.Random, probe: Probe, site: Site, url: str, outcome: str
) -> dict[str, Any]:
    v4, v6 = _probe_addresses(rng, probe, site)
    t = 0.0

    def tick() -> float:
        nonlocal t
        t += rng.uniform(0.01, 0.4)
        return round(t, 6)

    queries, dns_failure = _queries(rng, probe, site, v4, v6, outcome, tick)
    resolved = [] if dns_failure else [a["ipv4"] for a in queries[0]["answers"] if "ipv4" in a]
    resolved_v6 = [] if dns_failure or outcome == "dns.bogon" else v6
    addresses = resolved + resolved_v6
    tcp: list[dict[str, Any]] = []
    tls: list[dict[str, Any]] = []
    reached: list[str] = []
    for ip in addresses:
        failure = _tcp_failure(probe, ip, outcome)
        tcp.append(
            {
                "ip": ip,
                "port": 443,
                "status": {"blocked": False, "failure": failure, "success": failure is None},
                "t": tick(),
                "transaction_id": len(tcp) + 10,
            }
        )
        if failure is None:
            tls_failure = _tls_failure(outcome)
            tls.append(_handshake(site, ip, tls_failure, tick(), len(tls) + 20))
            if tls_failure is None:
                reached.append(ip)
    http_failure = _http_failure(outcome, dns_failure, tcp, tls, reached)
    down = outcome == "down"
    keys: dict[str, Any] = {
        "agent": "redirect",
        "client_resolver": "127.0.0.2",
        "retries": None,
        "socksproxy": None,
        "queries": queries,
        "dns_experiment_failure": dns_failure,
        "tcp_connect": tcp,
        "tls_handshakes": tls,
        "requests": [_request(site, url, http_failure, tick())],
        "http_experiment_failure": http_failure,
    }
    if outcome == "no_control":
        keys["control"] = {}
        keys["control_failure"] = "generic_timeout_error"
    else:
        keys["control"] = _control(site, v4 + v6, down)
        keys["control_failure"] = None
    keys.update(_summary(outcome, http_failure))
    return keys


def _queries(
    rng: random.Random,
    probe: Probe,
    site: Site,
    v4: list[str],
    v6: list[str],
    outcome: str,
    tick: Any,
) -> tuple[list[dict[str, Any]], str | None]:
    failure = "dns_nxdomain_error" if outcome == "dns.nxdomain" else None
    if outcome == "dns.bogon":
        answers_v4 = [{"answer_type": "A", "ipv4": "10.55.3.3", "asn": 0, "ttl": None}]
    else:
        answers_v4 = [{"answer_type": "A", "ipv4": ip, "asn": site.asn, "ttl": None} for ip in v4]
    answers_v6 = [{"answer_type": "AAAA", "ipv6": ip, "asn": site.asn, "ttl": None} for ip in v6]
    base = {
        "engine": "system",
        "hostname": site.host,
        "resolver_hostname": None,
        "resolver_port": None,
        "resolver_address": "",
        "tags": None,
    }
    queries = [
        {
            **base,
            "query_type": "A",
            "answers": None if failure else answers_v4,
            "failure": failure,
            "t": tick(),
            "transaction_id": 1,
        }
    ]
    if v6 and outcome not in ("dns.bogon",):
        queries.append(
            {
                **base,
                "query_type": "AAAA",
                "answers": None if failure else answers_v6,
                "failure": failure,
                "t": tick(),
                "transaction_id": 2,
            }
        )
    del rng, probe
    return queries, failure


def _tcp_failure(probe: Probe, ip: str, outcome: str) -> str | None:
    if ":" in ip and not probe.ipv6:
        return "network_unreachable"
    # "no_control": the connection timed out and the test helper could not be asked either,
    # so nothing says whether the site was down or blocked.
    if outcome in ("tcp.timeout", "down", "no_control"):
        return "generic_timeout_error"
    if outcome == "tcp.reset":
        return "connection_refused" if ":" in ip else "connection_reset"
    return None


def _tls_failure(outcome: str) -> str | None:
    if outcome == "tls.reset":
        return "connection_reset"
    if outcome == "tls.timeout":
        return "generic_timeout_error"
    return None


def _handshake(site: Site, ip: str, failure: str | None, t: float, tid: int) -> dict[str, Any]:
    address = f"[{ip}]:443" if ":" in ip else f"{ip}:443"
    ok = failure is None
    return {
        "address": address,
        "server_name": site.host,
        "failure": failure,
        "tls_version": "TLSv1.3" if ok else "",
        "cipher_suite": "TLS_AES_128_GCM_SHA256" if ok else "",
        "negotiated_protocol": "h2" if ok else "",
        "peer_certificates": [{"format": "base64", "data": "U1lOVEhFVElD"}] if ok else [],
        "no_tls_verify": False,
        "t": t,
        "transaction_id": tid,
        "tags": None,
    }


def _http_failure(
    outcome: str,
    dns_failure: str | None,
    tcp: list[dict[str, Any]],
    tls: list[dict[str, Any]],
    reached: list[str],
) -> str | None:
    if dns_failure:
        return dns_failure
    if reached:
        return None
    tls_failures = [h["failure"] for h in tls if h["failure"]]
    if tls_failures:
        return str(tls_failures[0])
    tcp_failures = [c["status"]["failure"] for c in tcp if c["status"]["failure"]]
    if outcome == "dns.bogon":
        return "connection_refused"
    return str(tcp_failures[0]) if tcp_failures else "generic_timeout_error"


def _request(site: Site, url: str, failure: str | None, t: float) -> dict[str, Any]:
    headers = {"Accept": "text/html", "Accept-Language": "en-US;q=0.8,en;q=0.5"}
    request = {
        "body": "",
        "body_is_truncated": False,
        "headers_list": [[k, v] for k, v in headers.items()],
        "headers": headers,
        "method": "GET",
        "tor": {"exit_ip": None, "exit_name": None, "is_tor": False},
        "x_transport": "tcp",
        "url": url,
    }
    if failure is not None:
        response: dict[str, Any] = {
            "body": None,
            "body_is_truncated": False,
            "code": 0,
            "headers_list": [],
            "headers": {},
        }
    else:
        body = _body(site)
        response_headers = {"Content-Type": "text/html; charset=utf-8", "Server": "tsa_o"}
        response = {
            "body": body,
            "body_is_truncated": False,
            "code": 200,
            "headers_list": [[k, v] for k, v in response_headers.items()],
            "headers": response_headers,
        }
    return {"failure": failure, "request": request, "response": response, "t": t}


def _control(site: Site, probe_addresses: list[str], down: bool) -> dict[str, Any]:
    fail = "generic_timeout_error" if down else None
    endpoints = list(dict.fromkeys([*site.ipv4, *site.ipv6, *probe_addresses]))

    def ep(ip: str) -> str:
        return f"[{ip}]:443" if ":" in ip else f"{ip}:443"

    body = _body(site)
    return {
        "dns": {"failure": None, "addrs": [*site.ipv4, *site.ipv6]},
        "tcp_connect": {ep(ip): {"status": not down, "failure": fail} for ip in endpoints},
        "tls_handshake": (
            {}
            if down
            else {
                ep(ip): {"server_name": site.host, "status": True, "failure": None}
                for ip in endpoints
            }
        ),
        "quic_handshake": {},
        "http_request": {
            "body_length": -1 if down else len(body),
            "discovered_h3_endpoint": "",
            "failure": fail,
            "title": "" if down else site.title,
            "headers": {} if down else {"Content-Type": "text/html; charset=utf-8"},
            "status_code": -1 if down else 200,
        },
        "ip_info": {
            ip: {"asn": site.asn, "flags": (1 if ip in probe_addresses else 0) | 2 | 8}
            for ip in endpoints
        },
    }


def _summary(outcome: str, http_failure: str | None) -> dict[str, Any]:
    """OONI's own summary fields, as OONI would have set them."""
    blocking: str | bool | None
    if outcome == "accessible":
        blocking, accessible = False, True
    elif outcome == "down":
        blocking, accessible = False, False
    elif outcome == "no_control":
        blocking, accessible = None, None
    elif outcome.startswith("dns."):
        blocking, accessible = "dns", False
    elif outcome.startswith("tcp."):
        blocking, accessible = "tcp_ip", False
    else:
        blocking, accessible = "http-failure", False
    return {
        "dns_consistency": "inconsistent" if outcome.startswith("dns.") else "consistent",
        "body_length_match": http_failure is None or None,
        "status_code_match": http_failure is None or None,
        "headers_match": http_failure is None or None,
        "title_match": http_failure is None or None,
        "accessible": accessible,
        "blocking": blocking,
        "x_dns_flags": 0,
        "x_blocking_flags": 0,
        "x_null_null_flags": 0,
        "x_status": 0,
        "x_simulated_outcome": outcome,
    }
