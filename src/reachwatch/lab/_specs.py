"""The server specs (see reachwatch.lab.node) of the internet and isp namespaces."""

from __future__ import annotations

from typing import Any

from reachwatch.lab._plan import (
    AUTHORITATIVE_DNS,
    CENSOR_BLOCKPAGE,
    CENSOR_MITM,
    DECOY_SITE,
    DOH_ADDRESS,
    ISP_RESOLVER,
    ISP_SEARCH,
    AddressPlan,
)
from reachwatch.lab.mechanisms import Setup
from reachwatch.lab.servers import LabPki

# Pages are padded so a throughput sample has more to measure than a few packets, yet a
# throttled client (128 kbit/s) still loads one within the probe's HTTP timeout.
PAGE_PADDING = 64 * 1024
PAGE_CHUNK = 1024

Spec = dict[str, Any]


def _tls(pki: LabPki, hosts: list[str], *, untrusted: bool = False) -> dict[str, str]:
    pair = pki.issue(hosts, untrusted=untrusted)
    return {"cert": str(pair.cert_file), "key": str(pair.key_file)}


def _sites(plan: AddressPlan, setup: Setup | None = None) -> dict[str, Any]:
    padding = PAGE_PADDING if setup is None or setup.page_padding is None else setup.page_padding
    chunk = PAGE_CHUNK if setup is None or setup.page_chunk is None else setup.page_chunk
    sites: dict[str, Any] = {
        host: {
            "page": {
                "title": f"{host} · {plan.platform.title}",
                "padding": padding,
                "chunk_size": chunk,
            }
        }
        for host in plan.hosts
    }
    for host, target in (setup.redirects if setup is not None else {}).items():
        sites[host] = {"redirect": {"hops": 1, "location": target}}
    sites[DECOY_SITE] = {"page": {"title": "Example Domain"}}
    return sites


def internet_spec(plan: AddressPlan, setup: Setup, pki: LabPki) -> Spec:
    """The platform's servers, the authoritative resolver and a public DoH resolver."""
    zone = {
        name: addresses
        for name, addresses in plan.zone(ipv6=setup.ipv6_records).items()
        if name not in setup.dead_names
    }
    servers: list[Spec] = [
        {"kind": "dns", "host": AUTHORITATIVE_DNS, "port": 53, "zone": zone},
        {"kind": "doh", "host": DOH_ADDRESS, "port": 443, "zone": zone} | _tls(pki, [DOH_ADDRESS]),
    ]
    if setup.platform_servers:
        tls = _tls(pki, [*plan.hosts, DECOY_SITE])
        sites = _sites(plan, setup)
        up = [host for host in plan.hosts if host not in setup.down_hosts]
        addresses = [plan.v4[host] for host in up]
        if setup.ipv6_records:
            addresses += [plan.v6[host] for host in up]
        for address in addresses:
            faults = {
                "reset_share": setup.reset_share,
                "challenge_clients": setup.challenge_clients,
            }
            servers += [
                {"kind": "web", "host": address, "port": 443, "sites": sites} | tls | faults,
                {"kind": "web", "host": address, "port": 80, "sites": sites} | faults,
                {"kind": "quic", "host": address, "port": 443} | tls,
            ]
    return {"servers": servers}


def isp_spec(plan: AddressPlan, setup: Setup, pki: LabPki) -> Spec:
    """The isp resolver (with the scenario's lies) and the censor's own servers."""
    policy = {
        "drop": sorted(setup.resolver_drop),
        "nxdomain": sorted(setup.resolver_nxdomain),
        "forged": setup.resolver_forged,
        "upstream": [AUTHORITATIVE_DNS, 53],
        "rewrite_nxdomain": [ISP_SEARCH] if setup.rewrite_nxdomain else [],
    }
    search: dict[str, Any] = {"*": {"page": {"title": "Search results", "text": "Did you mean"}}}
    censor_tls = _tls(pki, [*plan.hosts, DECOY_SITE], untrusted=True)
    blockpage: dict[str, Any] = {"*": {"blockpage": {}}}
    # A MITM box relays the real page; what gives it away is its certificate.
    return {
        "servers": [
            {"kind": "dns", "host": ISP_RESOLVER, "port": 53, "zone": {}, "policy": policy},
            {"kind": "web", "host": CENSOR_BLOCKPAGE, "port": 80, "sites": blockpage},
            {"kind": "web", "host": CENSOR_BLOCKPAGE, "port": 443, "sites": blockpage} | censor_tls,
            {"kind": "web", "host": CENSOR_MITM, "port": 443, "sites": _sites(plan)} | censor_tls,
            {"kind": "web", "host": ISP_SEARCH, "port": 80, "sites": search},
            # Over HTTPS the search page fails certificate checks, as a real one would.
            {"kind": "web", "host": ISP_SEARCH, "port": 443, "sites": search} | censor_tls,
        ]
    }
