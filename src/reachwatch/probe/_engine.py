"""The measurement engine: every step for every target, concurrently, each one bounded."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import itertools
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from reachwatch.formats.reachwatch import build_measurement
from reachwatch.probe import steps
from reachwatch.probe._clock import now
from reachwatch.probe._conn import format_endpoint
from reachwatch.probe._failures import StepFailure
from reachwatch.probe._system import system_address
from reachwatch.probe._targets import Target

T = TypeVar("T")

# Cloudflare's public DoH service, addressed by IP so no lookup is needed to reach it.
DEFAULT_DOH_URL = "https://1.1.1.1/dns-query"
NO_CONTROL = "x_no_control"

Progress = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """How to measure. Timeouts are per step, in seconds; steps of all targets overlap."""

    control_url: str | None = None
    resolver: tuple[str, int] | None = None
    doh_url: str | None = DEFAULT_DOH_URL
    ca_file: str | None = None
    probe_cc: str = "ZZ"
    probe_asn: str = "AS0"
    system_resolver: bool = True
    dns_timeout: float = 4.0
    connect_timeout: float = 5.0
    tls_timeout: float = 5.0
    http_timeout: float = 10.0
    quic_timeout: float = 5.0
    control_timeout: float = 30.0
    quic: bool = True
    throughput: bool = True
    throughput_bytes: int = 2 * 1024 * 1024
    throughput_seconds: float = 3.0
    max_addresses: int = 4  # per address family
    concurrency: int = 64  # network steps in flight at once, over all targets
    # Control queries in flight at once: a control serves 16 at a time by default and turns
    # away what waits too long, so a long list of targets must not flood it.
    control_concurrency: int = 8
    decoy_sni: str = steps.DECOY_SNI
    local_address: str | None = None  # measure from this address (multi-homed hosts, labs)
    # Ask every resolver for a random name that does not exist, once per run, so that a
    # resolver answering every nonexistent name (an ISP search page) is told from one that
    # answers only the names on a list.
    nxdomain_canary: bool = True
    # Real-SNI handshakes reset at an address are repeated up to this many times (stopping at
    # the first success): filtering by name is consistent, a server dropping connections not.
    sni_retries: int = 8


class ControlGate:
    """The control as all targets of a run share it: at most `concurrency` queries in flight,
    and once it has stopped answering, the rest of the run no longer waits on it."""

    def __init__(self, concurrency: int) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.down: str | None = None  # why the control stopped answering


@dataclass(slots=True)
class _Connected:
    tcp: dict[str, Any]
    tls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """TCP (and, for https, a real-SNI handshake) succeeded on this address."""
        if self.tcp["status"]["failure"] is not None:
            return False
        real = [t for t in self.tls if not t["x_decoy_sni"]]
        return not real or any(t["failure"] is None for t in real)


class TargetMeasurer:
    """Measures one URL: DNS, TCP, TLS (+decoy), HTTP, QUIC, throughput, and the control."""

    def __init__(
        self,
        target: Target,
        options: ProbeOptions,
        *,
        ipv6: bool,
        slots: asyncio.Semaphore,
        control: ControlGate | None = None,
        progress: Progress | None = None,
        canary: Awaitable[list[dict[str, Any]]] | None = None,
    ) -> None:
        self.target = target
        self._canary = canary
        self.options = options
        self.ipv6 = ipv6
        self._slots = slots
        self._gate = control or ControlGate(options.control_concurrency)
        self._progress = progress
        self._context = steps.make_ssl_context(options.ca_file)
        self._decoy_context = steps.make_ssl_context(options.ca_file, verify=False)
        self._ids = itertools.count(1)
        self._started = now()
        parts = urlsplit(target.url)
        self.host = parts.hostname or ""
        self.https = parts.scheme == "https"
        self.port = parts.port or (443 if self.https else 80)

    async def measure(self) -> dict[str, Any]:
        """The measurement line (docs/measurement-format.md), not yet judged."""
        started_at = datetime.datetime.now(datetime.UTC)
        self._started = now()
        self._report("dns")
        queries = await self._resolve()
        addresses, unmeasured = self._addresses(queries)
        control = asyncio.ensure_future(self._control(addresses + unmeasured))
        self._report("connect")
        quic_addresses = addresses if self.https and self.options.quic else []
        connected, quic = await asyncio.gather(
            asyncio.gather(*(self._connect(ip) for ip in addresses)),
            asyncio.gather(*(self._quic(ip) for ip in quic_addresses)),
        )
        self._report("http")
        requests = await self._fetch(connected)
        throughput = await self._throughput(requests)
        self._report("control")
        control_answer, control_failure = await control
        canary = await self._canary if self._canary is not None else []
        test_keys = {
            "queries": queries,
            "tcp_connect": [c.tcp for c in connected],
            "tls_handshakes": [entry for c in connected for entry in c.tls],
            "requests": requests,
            "control": control_answer,
            "control_failure": control_failure,
            "blocking": None,  # filled from the verdict once classify has judged the line
            "accessible": None,
            "x_ipv6_capable": self.ipv6 and not _ipv6_broken(connected),
            "x_unmeasured_addresses": unmeasured,
            "x_quic_handshakes": list(quic),
            "x_throughput": throughput,
            "x_nxdomain_canary": canary,
            "x_reachwatch": None,
        }
        self._report("done")
        return self._line(test_keys, started_at)

    def _line(self, test_keys: dict[str, Any], started_at: datetime.datetime) -> dict[str, Any]:
        annotations = {"platform": self.target.platform} if self.target.platform else {}
        return build_measurement(
            input_url=self.target.url,
            test_keys=test_keys,
            started_at=started_at,
            runtime=now() - self._started,
            probe_cc=self.options.probe_cc,
            probe_asn=self.options.probe_asn,
            resolver_ip=self.options.resolver[0] if self.options.resolver else None,
            annotations=annotations,
        )

    async def _bounded(self, step: Awaitable[T]) -> T:
        """Run a step once one of the engine's slots is free (the step starts only then)."""
        async with self._slots:
            return await step

    def _report(self, stage: str) -> None:
        if self._progress is not None:
            self._progress(self.target.url, stage)

    async def lookups(self) -> list[dict[str, Any]]:
        """The target's host asked of every resolver (the DNS step alone)."""
        return await self._resolve()

    async def _resolve(self) -> list[dict[str, Any]]:
        if _is_address(self.host):
            return []  # nothing to look up: the URL names its address
        opts, host, at = self.options, self.host, self._started
        timeout = opts.dns_timeout
        lookups: list[Awaitable[list[dict[str, Any]]]] = []
        if opts.system_resolver:
            tid = next(self._ids)
            lookups.append(
                steps.resolve_getaddrinfo(host, timeout=timeout, started=at, transaction_id=tid)
            )
        if opts.resolver is not None:
            tid = next(self._ids)
            lookups.append(
                steps.resolve_udp(
                    host,
                    opts.resolver,
                    timeout=timeout,
                    started=at,
                    transaction_id=tid,
                    local_address=self.options.local_address,
                )
            )
        if opts.doh_url is not None:
            tid = next(self._ids)
            lookups.append(
                steps.resolve_doh(
                    host,
                    opts.doh_url,
                    timeout=timeout,
                    ssl_context=self._context,
                    started=at,
                    transaction_id=tid,
                    local_address=self.options.local_address,
                )
            )
        results = await asyncio.gather(*(self._bounded(lookup) for lookup in lookups))
        return [entry for entries in results for entry in entries]

    def _addresses(self, queries: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        """Addresses to measure (system resolver's first, capped per family) and those left
        out because this network (or the chosen local address) cannot reach their family."""
        found = [self.host] if _is_address(self.host) else steps.addresses_of(queries)
        v4 = [a for a in found if ":" not in a][: self.options.max_addresses]
        v6 = [a for a in found if ":" in a][: self.options.max_addresses]
        local = self.options.local_address
        if local is not None:
            return (v6, v4) if ":" in local else (v4, v6)
        return (v4 + v6, []) if self.ipv6 else (v4, v6)

    async def _connect(self, ip: str) -> _Connected:
        opts = self.options
        tcp = await self._bounded(
            steps.tcp_connect(
                ip,
                self.port,
                timeout=opts.connect_timeout,
                started=self._started,
                transaction_id=next(self._ids),
                local_address=self.options.local_address,
            )
        )
        result = _Connected(tcp)
        if not self.https or tcp["status"]["failure"] is not None:
            return result
        real = await self._handshake(ip, self.host, decoy=False)
        result.tls.append(real)
        if real["failure"] is not None:
            # Same address, unrelated name: if this one works, the name is what is filtered.
            result.tls.append(await self._handshake(ip, opts.decoy_sni, decoy=True))
            # A censor resets every handshake naming the site; a server that drops some
            # connections lets one through. Resets are cheap to repeat; timeouts are not.
            for _ in range(opts.sni_retries):
                if real["failure"] not in _RETRIED_FAILURES:
                    break
                real = await self._handshake(ip, self.host, decoy=False)
                result.tls.append(real)
        return result

    async def _handshake(self, ip: str, server_name: str, *, decoy: bool) -> dict[str, Any]:
        context = self._decoy_context if decoy else self._context
        return await self._bounded(
            steps.tls_handshake(
                ip,
                self.port,
                server_name,
                timeout=self.options.tls_timeout,
                ssl_context=context,
                decoy=decoy,
                started=self._started,
                transaction_id=next(self._ids),
                local_address=self.options.local_address,
            )
        )

    async def _quic(self, ip: str) -> dict[str, Any]:
        return await self._bounded(
            steps.quic_handshake(
                ip,
                self.port,
                self.host,
                timeout=self.options.quic_timeout,
                ca_file=self.options.ca_file,
                started=self._started,
                transaction_id=next(self._ids),
                local_address=self.options.local_address,
            )
        )

    async def _fetch(self, connected: Sequence[_Connected]) -> list[dict[str, Any]]:
        usable = next((c for c in connected if c.usable), None)
        if usable is None:
            return []  # nothing answered: the failures are already recorded below HTTP
        address = usable.tcp["ip"]
        return await self._bounded(
            steps.http_fetch(
                self.target.url,
                address=address,
                timeout=self.options.http_timeout,
                ssl_context=self._context,
                resolve=self._resolve_one,
                started=self._started,
                transaction_id=next(self._ids),  # redirect hops count on from here
                local_address=self.options.local_address,
            )
        )

    async def _throughput(self, requests: list[dict[str, Any]]) -> dict[str, Any] | None:
        # A response that arrived, even too slowly to finish, is worth a sample: slowness is
        # what the sample is for.
        if not self.options.throughput or not requests or not requests[0]["response"]["code"]:
            return None
        final = requests[0]
        address = _host_of_endpoint(final["address"])
        return await self._bounded(
            steps.throughput_sample(
                final["request"]["url"],
                address=address,
                ssl_context=self._context,
                max_bytes=self.options.throughput_bytes,
                max_seconds=self.options.throughput_seconds,
                resolve=self._resolve_one,
                local_address=self.options.local_address,
            )
        )

    async def _resolve_one(self, host: str) -> str:
        """An address for a host met along redirects: the UDP resolver's, else the system's."""
        resolver = self.options.resolver
        if resolver is None:
            return await system_address(host)
        entries = await steps.resolve_udp(
            host,
            resolver,
            timeout=self.options.dns_timeout,
            local_address=self.options.local_address,
        )
        found = steps.addresses_of(entries)
        if not found:
            failures = [e["failure"] for e in entries if e["failure"]]
            raise StepFailure(failures[0] if failures else "dns_no_answer")
        return found[0]

    async def _control(self, addresses: list[str]) -> tuple[dict[str, Any], str | None]:
        control_url = self.options.control_url
        if control_url is None:
            return {}, NO_CONTROL
        from reachwatch.control import ControlUnavailable, query_control

        gate = self._gate
        try:
            async with gate.slots:  # the control's timeout starts once it is our turn
                if gate.down is not None:
                    return {}, f"x_control_unavailable: {gate.down} (not asked again)"
                answer = await query_control(
                    control_url,
                    target_url=self.target.url,
                    addresses=[format_endpoint(ip, self.port) for ip in addresses],
                    quic=self.https and self.options.quic,
                    throughput=self.options.throughput,
                    timeout=self.options.control_timeout,
                    ssl_context=self._context,
                )
        except ControlUnavailable as exc:
            if exc.down:
                gate.down = gate.down or exc.reason
            return {}, f"x_control_unavailable: {exc.reason}"
        return answer, None


_RETRIED_FAILURES = ("connection_reset", "eof_error")


def canary_name() -> str:
    """A random name under .com that does not exist (64 random bits)."""
    return f"rw-canary-{secrets.token_hex(8)}.com"


def _ipv6_broken(connected: Sequence[_Connected]) -> bool:
    """Every IPv6 connect failed while an IPv4 one to the same host succeeded.

    That is a network with an IPv6 route but no IPv6 path (a broken router or tunnel), not a
    censor: blocking only the IPv6 addresses of a site that answers on IPv4 gains a censor
    nothing. Its IPv6 failures are then no evidence of blocking.
    """
    v6 = [c.tcp["status"] for c in connected if ":" in c.tcp["ip"]]
    v4 = [c.tcp["status"] for c in connected if ":" not in c.tcp["ip"]]
    return bool(v6) and all(s["failure"] for s in v6) and any(not s["failure"] for s in v4)


def _host_of_endpoint(endpoint: str | None) -> str | None:
    if endpoint is None:
        return None
    host = endpoint.rsplit(":", 1)[0]
    return host[1:-1] if host.startswith("[") else host


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
