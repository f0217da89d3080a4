"""DNS steps: the system resolver, a plain UDP resolver and DNS-over-HTTPS; A and AAAA."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import dns.asyncquery
import dns.message
import dns.rdatatype

from reachwatch.probe._clock import now, span
from reachwatch.probe._failures import failure_from_exception, gai_failure, rcode_failure
from reachwatch.probe._http import exchange
from reachwatch.probe._system import getaddrinfo_in_thread

QUERY_TYPES = ("A", "AAAA")
_MAX_DOH_RESPONSE = 65535


async def resolve_getaddrinfo(
    host: str, *, timeout: float, started: float | None = None, transaction_id: int = 0
) -> list[dict[str, Any]]:
    """The system resolver's answers for host, as an A and an AAAA entry (engine getaddrinfo)."""
    begin = now()
    failure: str | None = None
    addresses: list[str] = []
    try:
        infos = await asyncio.wait_for(getaddrinfo_in_thread(host), timeout)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    except socket.gaierror as exc:
        failure = gai_failure(exc.errno)
    except Exception as exc:
        failure = failure_from_exception(exc)
    times = span(started, begin)
    entries = []
    for qtype in QUERY_TYPES:
        family_addresses = [a for a in addresses if (":" in a) == (qtype == "AAAA")]
        entry_failure = failure or (None if family_addresses else "dns_no_answer")
        answers = [_address_answer(a) for a in family_addresses]
        entries.append(
            _query_entry(host, qtype, "getaddrinfo", "", answers, entry_failure, times)
            | {"transaction_id": transaction_id}
        )
    return entries


async def resolve_udp(
    host: str,
    resolver: tuple[str, int],
    *,
    timeout: float,
    local_address: str | None = None,
    started: float | None = None,
    transaction_id: int = 0,
) -> list[dict[str, Any]]:
    """A and AAAA queries to a plain DNS resolver over UDP (TCP when truncated), engine udp."""
    ip, port = resolver
    resolver_address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

    async def one(qtype: str) -> dict[str, Any]:
        begin = now()
        query = dns.message.make_query(host, qtype)
        try:
            async with asyncio.timeout(timeout):
                response, _ = await dns.asyncquery.udp_with_fallback(
                    query, ip, timeout=timeout, port=port, source=local_address
                )
            answers, failure = _answers_of(response, qtype)
        except Exception as exc:
            answers, failure = [], failure_from_exception(exc)
        times = span(started, begin)
        entry = _query_entry(host, qtype, "udp", resolver_address, answers, failure, times)
        return entry | {"transaction_id": transaction_id}

    return list(await asyncio.gather(*(one(qtype) for qtype in QUERY_TYPES)))


async def resolve_doh(
    host: str,
    doh_url: str,
    *,
    timeout: float,
    ssl_context: ssl.SSLContext,
    address: str | None = None,
    local_address: str | None = None,
    started: float | None = None,
    transaction_id: int = 0,
) -> list[dict[str, Any]]:
    """A and AAAA queries over DNS-over-HTTPS (RFC 8484, POST), engine doh.

    `address` pins the DoH server's IP; without it the URL's host must be an IP literal or
    resolvable by the system resolver.
    """

    async def one(qtype: str) -> dict[str, Any]:
        begin = now()
        query = dns.message.make_query(host, qtype)
        query.id = 0  # RFC 8484 §4.1: cache-friendly id
        try:
            async with asyncio.timeout(timeout):
                result = await exchange(
                    doh_url,
                    address=address,
                    ssl_context=ssl_context,
                    method="POST",
                    headers=[
                        ("Content-Type", "application/dns-message"),
                        ("Accept", "application/dns-message"),
                    ],
                    body=query.to_wire(),
                    body_cap=_MAX_DOH_RESPONSE,
                    local_address=local_address,
                )
            if result.failure is not None:
                raise _DohFailure(result.failure)
            if result.status != 200:
                raise _DohFailure(f"dns_doh_http_status: {result.status}")
            response = dns.message.from_wire(bytes(result.body))
            answers, failure = _answers_of(response, qtype)
        except _DohFailure as exc:
            answers, failure = [], str(exc)
        except Exception as exc:
            answers, failure = [], failure_from_exception(exc)
        times = span(started, begin)
        entry = _query_entry(host, qtype, "doh", doh_url, answers, failure, times)
        return entry | {"transaction_id": transaction_id}

    return list(await asyncio.gather(*(one(qtype) for qtype in QUERY_TYPES)))


class _DohFailure(Exception):
    pass


def addresses_of(entries: Iterable[dict[str, Any]]) -> list[str]:
    """Every distinct address answered in a list of query entries, in answer order."""
    found: dict[str, None] = {}
    for entry in entries:
        for answer in entry.get("answers") or []:
            ip = answer.get("ipv4") or answer.get("ipv6")
            if ip:
                found[ip] = None
    return list(found)


def _answers_of(
    response: dns.message.Message, qtype: str
) -> tuple[list[dict[str, Any]], str | None]:
    failure = rcode_failure(response.rcode())
    answers: list[dict[str, Any]] = []
    for rrset in response.answer:
        for rdata in rrset:
            if rrset.rdtype == dns.rdatatype.A:
                answers.append({"answer_type": "A", "ipv4": rdata.address, "ttl": rrset.ttl})
            elif rrset.rdtype == dns.rdatatype.AAAA:
                answers.append({"answer_type": "AAAA", "ipv6": rdata.address, "ttl": rrset.ttl})
            elif rrset.rdtype == dns.rdatatype.CNAME:
                hostname = rdata.target.to_text(omit_final_dot=True)
                answers.append({"answer_type": "CNAME", "hostname": hostname, "ttl": rrset.ttl})
    if failure is None and not any(a["answer_type"] == qtype for a in answers):
        failure = "dns_no_answer"
    return answers, failure


def _address_answer(ip: str) -> dict[str, Any]:
    if ":" in ip:
        return {"answer_type": "AAAA", "ipv6": ip, "ttl": None}
    return {"answer_type": "A", "ipv4": ip, "ttl": None}


def _query_entry(
    host: str,
    qtype: str,
    engine: str,
    resolver_address: str,
    answers: list[dict[str, Any]],
    failure: str | None,
    times: dict[str, float],
) -> dict[str, Any]:
    return {
        "hostname": host,
        "query_type": qtype,
        "engine": engine,
        "resolver_hostname": None,
        "resolver_port": None,
        "resolver_address": resolver_address,
        "answers": answers,
        "failure": failure,
        **times,
    }
