"""Repeat a probe's measurement from the control's vantage point and answer in OONI's TH shape.

Every network step is the probe's own (`reachwatch.probe.steps`), so the probe and the control
can only differ in where they stand, never in how they measure. Every address goes through the
`AddressPolicy` before any packet is sent, including addresses reached through redirects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from reachwatch.control._config import ControlConfig
from reachwatch.control._request import ControlRequest, Endpoint
from reachwatch.control._response import (
    dns_entry,
    http_request_entry,
    ip_info,
    quic_entry,
    tcp_entry,
    tls_entry,
)
from reachwatch.control._safety import AddressPolicy, IPAddress
from reachwatch.probe import steps

T = TypeVar("T")

# Below this a step cannot succeed anyway; it is skipped rather than reported as a timeout,
# which would read as "the target does not answer".
_MIN_STEP_TIME = 0.05
BUDGET_EXCEEDED = "x_control_budget_exceeded"


class _Deadline:
    """One wall-clock budget shared by every step of a request."""

    def __init__(self, budget: float) -> None:
        self._end = time.monotonic() + budget

    def timeout(self, step_timeout: float) -> float | None:
        """The step's own timeout cut to what is left; None once the budget is spent."""
        left = self._end - time.monotonic()
        return min(step_timeout, left) if left > _MIN_STEP_TIME else None


class _Allowance:
    """What is left of one request's connections and downloaded bytes.

    Checked before each step, so a step that is not started costs nothing; a step that is cut
    short is reported as not run (`BUDGET_EXCEEDED`) rather than as a failure of the target.
    """

    def __init__(self, connections: int, body_bytes: int) -> None:
        self.connections = connections
        self.bytes = body_bytes

    def take_connection(self, keep: int = 0) -> bool:
        """One connection, unless that would leave fewer than `keep` for what must come later."""
        if self.connections - 1 < keep:
            return False
        self.connections -= 1
        return True

    def spend(self, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            length = (entry.get("response") or {}).get("x_body_length")
            self.bytes -= length if isinstance(length, int) else 0


class Measurement:
    """One control request being measured; `run()` returns the TH response document."""

    def __init__(self, request: ControlRequest, config: ControlConfig) -> None:
        self.request = request
        self.config = config
        self.limits = config.limits
        self.policy = AddressPolicy(allow_private=config.allow_private, ports=config.ports)
        # The probe's own context, so both ends offer the same TLS (ALPN included).
        self.ssl_context = steps.make_ssl_context(config.ca_file)
        self.deadline = _Deadline(self.limits.budget)
        self._slots = asyncio.Semaphore(self.limits.max_parallel_steps)
        self.allowance = _Allowance(
            self.limits.max_request_connections, self.limits.max_request_bytes
        )
        # The GET (every hop of it) and the throughput sample come before extra endpoints.
        self._web_reserve = min(self.limits.max_redirects + 2, self.limits.max_request_connections)

    async def _step(self, step_timeout: float, step: Callable[[float], Awaitable[T]]) -> T | None:
        """Run a network step in a free slot with what is left of the budget (None: none left).

        The timeout is taken after the slot is free, so waiting for a slot cannot overrun it.
        """
        async with self._slots:
            timeout = self.deadline.timeout(step_timeout)
            if timeout is None or not self.allowance.take_connection(keep=self._web_reserve):
                return None
            return await step(timeout)

    async def resolve(self, host: str) -> tuple[list[str], str | None]:
        """The control's own A/AAAA answers for `host` and the DNS failure, if any."""
        try:
            return [str(ipaddress.ip_address(host))], None
        except ValueError:
            pass
        resolver = self.config.resolver
        timeout = self.deadline.timeout(self.limits.dns_timeout)
        if timeout is None:
            return [], BUDGET_EXCEEDED
        if resolver is not None:
            queries = await steps.resolve_udp(host, resolver, timeout=timeout)
        else:
            queries = await steps.resolve_getaddrinfo(host, timeout=timeout)
        entry = dns_entry(queries)
        return entry["addrs"], entry["failure"]

    async def run(self) -> dict[str, Any]:
        req = self.request
        addrs, dns_failure = await self.resolve(req.host)
        own = [
            Endpoint(ipaddress.ip_address(a), req.port) for a in addrs[: self.limits.max_resolved]
        ]
        endpoints = list(dict.fromkeys([*req.endpoints, *own]))
        https = req.scheme == "https"

        connect = asyncio.gather(*(self._connect(ep, https) for ep in endpoints))
        quic = asyncio.gather(*(self._quic(ep) for ep in endpoints if https and req.quic))
        web = self._web([ep.ip for ep in own], [ep.ip for ep in req.endpoints], dns_failure)
        connected, quic_entries, (http_request, throughput) = await asyncio.gather(
            connect, quic, web
        )
        pairs = list(zip(endpoints, connected, strict=True))
        tls = {str(ep): s for ep, (_, s) in pairs if s is not None}
        return {
            "dns": {"failure": dns_failure, "addrs": addrs},
            "tcp_connect": {str(ep): t for ep, (t, _) in pairs},
            "tls_handshake": tls,
            "quic_handshake": dict(quic_entries),
            "http_request": http_request,
            "ip_info": ip_info(
                given=[ep.ip for ep in req.endpoints],
                resolved=[ep.ip for ep in own],
                valid_for_domain={ep.ip for ep, (_, s) in pairs if s and s["status"]},
            ),
            "x_throughput": throughput,
        }

    async def _connect(
        self, ep: Endpoint, https: bool
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """TCP connect, then (for https) a TLS handshake with the URL's SNI, to one endpoint."""
        refused = self.policy.refuse(ep.ip, ep.port)
        sni = self.request.host
        if refused is not None:
            tls = tls_entry(sni, None, not_run=refused, ip=ep.ip) if https else None
            return tcp_entry(None, not_run=refused, ip=ep.ip), tls
        ip = str(ep.ip)
        tcp = await self._step(
            self.limits.connect_timeout,
            lambda timeout: steps.tcp_connect(ip, ep.port, timeout=timeout),
        )
        if tcp is None:
            return tcp_entry(None, not_run=BUDGET_EXCEEDED), None
        if not https or tcp["status"]["failure"] is not None:
            return tcp_entry(tcp), None
        tls = await self._step(
            self.limits.connect_timeout,
            lambda timeout: steps.tls_handshake(
                ip, ep.port, sni, timeout=timeout, ssl_context=self.ssl_context
            ),
        )
        if tls is None:
            return tcp_entry(tcp), tls_entry(sni, None, not_run=BUDGET_EXCEEDED)
        return tcp_entry(tcp), tls_entry(sni, tls)

    async def _quic(self, ep: Endpoint) -> tuple[str, dict[str, Any]]:
        sni = self.request.host
        refused = self.policy.refuse(ep.ip, ep.port)
        if refused is not None:
            return str(ep), quic_entry(sni, None, not_run=refused, ip=ep.ip)
        entry = await self._step(
            self.limits.quic_timeout,
            lambda timeout: steps.quic_handshake(
                str(ep.ip), ep.port, sni, timeout=timeout, ca_file=self.config.ca_file
            ),
        )
        if entry is None:
            return str(ep), quic_entry(sni, None, not_run=BUDGET_EXCEEDED)
        return str(ep), quic_entry(sni, entry)

    async def _web(
        self, resolved: list[IPAddress], given: list[IPAddress], dns_failure: str | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """GET the URL (redirects followed hop by hop), then a throughput sample of it."""
        first = self._pick_address(self.request.port, [*resolved, *given], dns_failure)
        chain, url, address, failure = await self._fetch_chain(first)
        http_request = http_request_entry(chain, failure)
        if not self.request.throughput:
            return http_request, None
        # No response at all (refused, reset, silent): a download of it would only wait out
        # its own timeout and say nothing more about the rate.
        if address is None or (failure is not None and http_request["status_code"] == -1):
            return http_request, _no_throughput(url, address, failure)
        max_seconds = self.deadline.timeout(self.limits.throughput_seconds)
        max_bytes = min(self.limits.throughput_bytes, self.allowance.bytes)
        if max_seconds is None or max_bytes <= 0 or not self.allowance.take_connection():
            return http_request, _no_throughput(url, address, BUDGET_EXCEEDED)
        sample = await steps.throughput_sample(
            url,
            address=address,
            ssl_context=self.ssl_context,
            max_bytes=max_bytes,
            max_seconds=max_seconds,
        )
        return http_request, sample

    def _pick_address(
        self, port: int, candidates: list[IPAddress], dns_failure: str | None
    ) -> tuple[str | None, str | None]:
        """The first candidate the policy allows, or the failure explaining why there is none."""
        failure = (dns_failure or "dns_no_answer") if not candidates else None
        for ip in candidates:
            refused = self.policy.refuse(ip, port)
            if refused is None:
                return str(ip), None
            failure = refused
        return None, failure

    async def _fetch_chain(
        self, first: tuple[str | None, str | None]
    ) -> tuple[list[dict[str, Any]], str, str | None, str | None]:
        """Follow redirects one hop at a time so every hop's address passes the policy.

        Returns the OONI request entries (last request first), the final URL, the address it
        was fetched from, and the failure that ended the chain (None if a final response came).
        """
        url = self.request.url
        address, failure = first
        chain: list[dict[str, Any]] = []
        for hop in range(self.limits.max_redirects + 1):
            if hop > 0:
                address, failure = await self._address_for(url)
            if address is None:
                return chain, url, None, failure
            timeout = self.deadline.timeout(self.limits.http_timeout)
            body_cap = min(self.limits.body_cap, self.allowance.bytes)
            if timeout is None or body_cap <= 0 or not self.allowance.take_connection():
                return chain, url, None, BUDGET_EXCEEDED
            entries = await steps.http_fetch(
                url,
                address=address,
                timeout=timeout,
                ssl_context=self.ssl_context,
                body_cap=body_cap,
                max_redirects=0,
            )
            self.allowance.spend(entries)
            location = steps.redirect_location(entries[0]) if entries else None
            if location is not None:
                # One hop was asked for, so the step calls the redirect "too many"; here it is
                # an ordinary hop the control follows itself.
                entries[0]["failure"] = None
            chain = [*entries, *chain]
            if location is None:
                return chain, url, address, _entry_failure(entries)
            following = steps.redirect_target(url, location)  # as the probe follows it
            if following is None:
                return chain, url, None, "x_invalid_redirect"
            url = following
            if urlsplit(url).scheme not in ("http", "https"):
                return chain, url, None, "x_refused_redirect_scheme"
        return chain, url, address, "x_too_many_redirects"

    async def _address_for(self, url: str) -> tuple[str | None, str | None]:
        parts = urlsplit(url)
        if not parts.hostname:
            return None, "x_invalid_redirect"
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None, "x_invalid_redirect"
        addrs, failure = await self.resolve(parts.hostname)
        if failure is not None:
            return None, failure
        return self._pick_address(port, [ipaddress.ip_address(a) for a in addrs], None)


def _entry_failure(entries: list[dict[str, Any]]) -> str | None:
    if not entries:
        return "unknown_failure: no request made"
    failure = entries[0].get("failure")
    return failure if isinstance(failure, str) else None


def _no_throughput(url: str, address: str | None, failure: str | None) -> dict[str, Any]:
    """The sample that could not be taken because the resource itself could not be fetched."""
    return {
        "url": url,
        "address": address,
        "bytes": 0,
        "seconds": 0.0,
        "samples": [],
        "failure": failure or "unknown_failure",
    }


__all__ = ["BUDGET_EXCEEDED", "Measurement"]
