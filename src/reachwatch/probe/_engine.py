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
from reachwatch.net import endpoint_ip
from reachwatch.probe import steps
from reachwatch.probe._clock import now, span
from reachwatch.probe._conn import format_endpoint
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
        chain = _Chain(queries, list(connected))
        requests = await self._fetch(chain)
        throughput = await self._throughput(requests)
        self._report("control")
        control_answer, control_failure = await control
        canary = await self._canary if self._canary is not None else []
        test_keys = {
            "queries": chain.queries,
            "tcp_connect": [c.tcp for c in chain.connected],
            "tls_handshakes": [entry for c in chain.connected for entry in c.tls],
            "requests": requests,
            "control": control_answer,
            "control_failure": control_failure,
            "x_redirect_controls": [await hop for hop in chain.controls],
            "blocking": None,  # filled from the verdict once classify has judged the line
            "accessible": None,
            "x_ipv6_capable": self.ipv6 and not _ipv6_broken(connected),
            "x_unmeasured_addresses": list(dict.fromkeys(unmeasured + chain.unmeasured)),
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

    async def _resolve(self, host: str | None = None) -> list[dict[str, Any]]:
        host = self.host if host is None else host
        if _is_address(host):
            return []  # nothing to look up: the URL names its address
        opts, at = self.options, self._started
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

    def _addresses(
        self, queries: list[dict[str, Any]], host: str | None = None
    ) -> tuple[list[str], list[str]]:
        """Addresses to measure (system resolver's first, capped per family) and those left
        out because this network (or the chosen local address) cannot reach their family."""
        host = self.host if host is None else host
        found = [host] if _is_address(host) else steps.addresses_of(queries)
        v4 = [a for a in found if ":" not in a][: self.options.max_addresses]
        v6 = [a for a in found if ":" in a][: self.options.max_addresses]
        local = self.options.local_address
        if local is not None:
            return (v6, v4) if ":" in local else (v4, v6)
        return (v4 + v6, []) if self.ipv6 else (v4, v6)

    async def _connect(self, ip: str, hop: _Hop | None = None) -> _Connected:
        opts = self.options
        hop = hop or _Hop(self.host, self.port, self.https)
        host, port, https = hop.host, hop.port, hop.https
        tcp = await self._bounded(
            steps.tcp_connect(
                ip,
                port,
                timeout=opts.connect_timeout,
                started=self._started,
                transaction_id=next(self._ids),
                local_address=self.options.local_address,
            )
        )
        result = _Connected(tcp)
        if not https or tcp["status"]["failure"] is not None:
            return result
        real = await self._handshake(ip, port, host, decoy=False)
        result.tls.append(real)
        if real["failure"] is not None:
            # Same address, unrelated name: if this one works, the name is what is filtered.
            result.tls.append(await self._handshake(ip, port, opts.decoy_sni, decoy=True))
            # A censor resets every handshake naming the site; a server that drops some
            # connections lets one through. Resets are cheap to repeat; timeouts are not.
            for _ in range(opts.sni_retries):
                if real["failure"] not in _RETRIED_FAILURES:
                    break
                real = await self._handshake(ip, port, host, decoy=False)
                result.tls.append(real)
        return result

    async def _handshake(
        self, ip: str, port: int, server_name: str, *, decoy: bool
    ) -> dict[str, Any]:
        context = self._decoy_context if decoy else self._context
        return await self._bounded(
            steps.tls_handshake(
                ip,
                port,
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

    async def _fetch(self, chain: _Chain) -> list[dict[str, Any]]:
        """Follow the redirect chain one hop at a time, measuring every new host of it as the
        input's own (DNS with every resolver, TCP and TLS to each address) before fetching
        from it, so that a hop blocked at any step is recorded at that step. OONI's order:
        the last request first."""
        usable = next((c for c in chain.connected if c.usable), None)
        if usable is None:
            return []  # nothing answered: the failures are already recorded below HTTP
        first = _Hop(self.host, self.port, self.https)
        chain.addresses[first] = usable.tcp["ip"]
        deadline = now() + self.options.http_timeout
        entries: list[dict[str, Any]] = []
        url = self.target.url
        for _ in range(_MAX_REDIRECTS + 1):
            hop = _Hop.of(url)
            measuring = now()
            address, failure = await self._hop_address(chain, hop, url)
            # Measuring a new host has timeouts of its own: the fetches keep their budget.
            deadline += now() - measuring
            if address is None:
                entries.append(self._failed_hop(url, failure, chain.endpoints.get(hop)))
                break
            fetched = await self._bounded(
                steps.http_fetch(
                    url,
                    address=address,
                    timeout=max(deadline - now(), 0.0),
                    ssl_context=self._context,
                    started=self._started,
                    transaction_id=next(self._ids),
                    local_address=self.options.local_address,
                    max_redirects=0,
                )
            )
            entry = fetched[0]
            location = steps.redirect_location(entry)
            entries.append(entry)
            if location is None:
                break
            following = steps.redirect_target(url, location)
            if following is None:
                entry["failure"] = steps.INVALID_LOCATION
                break
            entry["failure"] = None  # one hop was asked for: the step calls it "too many"
            url = following
        else:
            entries[-1]["failure"] = "http_too_many_redirects"
        entries.reverse()
        return entries

    async def _hop_address(
        self, chain: _Chain, hop: _Hop, url: str
    ) -> tuple[str | None, str | None]:
        """The address to fetch a hop from, measuring its host first if the chain has not yet
        met it; else (None, the failure of the step that stopped it)."""
        if hop in chain.addresses:
            return chain.addresses[hop], None
        if hop in chain.failures:
            return None, chain.failures[hop]
        if not hop.host or urlsplit(url).scheme not in ("http", "https"):
            chain.failures[hop] = "http_unsupported_url"
            return None, chain.failures[hop]
        if hop.host not in chain.resolved:
            queries = await self._resolve(hop.host)
            chain.queries += queries
            chain.resolved[hop.host] = queries
        queries = chain.resolved[hop.host]
        addresses, unmeasured = self._addresses(queries, hop.host)
        chain.unmeasured += unmeasured
        # The control repeats the hop from its side (its own DNS too, so even a hop the probe
        # could not resolve gets compared), while the probe measures it.
        endpoints = [format_endpoint(ip, hop.port) for ip in addresses + unmeasured]
        chain.controls.append(asyncio.ensure_future(self._hop_control(url, endpoints)))
        connected = await asyncio.gather(*(self._connect(ip, hop) for ip in addresses))
        chain.connected += connected
        usable = next((c for c in connected if c.usable), None)
        if usable is not None:
            chain.addresses[hop] = usable.tcp["ip"]
            return chain.addresses[hop], None
        chain.failures[hop] = _why_unusable(queries, connected)
        if connected:
            chain.endpoints[hop] = format_endpoint(connected[0].tcp["ip"], hop.port)
        return None, chain.failures[hop]

    def _failed_hop(self, url: str, failure: str | None, endpoint: str | None) -> dict[str, Any]:
        """The requests entry of a hop that never got as far as HTTP: its failure is that of
        the step that stopped it (DNS, TCP or TLS, recorded in full above), as OONI's HTTP
        client reports a failed connection."""
        exchange = steps.Exchange(url=url, failure=failure or "unknown_failure")
        if endpoint is not None:
            ip = endpoint.rsplit(":", 1)[0].strip("[]")
            exchange.address, exchange.port = ip, int(endpoint.rsplit(":", 1)[1])
        return steps.request_entry(
            exchange, span(self._started, now()), next(self._ids), origin=self._started
        )

    async def _throughput(self, requests: list[dict[str, Any]]) -> dict[str, Any] | None:
        # A response that arrived, even too slowly to finish, is worth a sample: slowness is
        # what the sample is for.
        if not self.options.throughput or not requests or not requests[0]["response"]["code"]:
            return None
        final = requests[0]
        address = endpoint_ip(final["address"]) if final["address"] else None
        return await self._bounded(
            steps.throughput_sample(
                final["request"]["url"],
                address=address,
                ssl_context=self._context,
                max_bytes=self.options.throughput_bytes,
                max_seconds=self.options.throughput_seconds,
                local_address=self.options.local_address,
            )
        )

    async def _hop_control(self, url: str, endpoints: list[str]) -> dict[str, Any]:
        """The control's view of a redirect hop with the endpoints the probe found for it."""
        answer, failure = await self._control(
            [], url=url, endpoints=endpoints, quic=False, throughput=False
        )
        return {"url": url, "control": answer, "control_failure": failure}

    async def _control(
        self,
        addresses: list[str],
        *,
        url: str | None = None,
        endpoints: list[str] | None = None,
        quic: bool | None = None,
        throughput: bool | None = None,
    ) -> tuple[dict[str, Any], str | None]:
        control_url = self.options.control_url
        if control_url is None:
            return {}, NO_CONTROL
        # Imported here: aiohttp is only loaded when a control is asked.
        from reachwatch.probe._control_client import ControlUnavailable, query_control

        gate = self._gate
        try:
            async with gate.slots:  # the control's timeout starts once it is our turn
                if gate.down is not None:
                    return {}, f"x_control_unavailable: {gate.down} (not asked again)"
                answer = await query_control(
                    control_url,
                    target_url=url or self.target.url,
                    addresses=endpoints or [format_endpoint(ip, self.port) for ip in addresses],
                    quic=self.https and self.options.quic if quic is None else quic,
                    throughput=self.options.throughput if throughput is None else throughput,
                    timeout=self.options.control_timeout,
                    ssl_context=self._context,
                    local_address=self.options.local_address,
                )
        except ControlUnavailable as exc:
            if exc.down:
                gate.down = gate.down or exc.reason
            return {}, f"x_control_unavailable: {exc.reason}"
        return answer, None


@dataclass(frozen=True, slots=True)
class _Hop:
    """Where a hop of a redirect chain goes: what decides its DNS, TCP and TLS steps."""

    host: str
    port: int
    https: bool

    @classmethod
    def of(cls, url: str) -> _Hop:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        try:
            port = parts.port or (443 if https else 80)
        except ValueError:
            port = 0
        return cls((parts.hostname or "").lower(), port, https)


@dataclass(slots=True)
class _Chain:
    """What following a redirect chain has measured so far, the input's own steps first."""

    queries: list[dict[str, Any]]
    connected: list[_Connected]
    resolved: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    addresses: dict[_Hop, str] = field(default_factory=dict)
    failures: dict[_Hop, str] = field(default_factory=dict)
    endpoints: dict[_Hop, str] = field(default_factory=dict)
    unmeasured: list[str] = field(default_factory=list)
    controls: list[asyncio.Future[dict[str, Any]]] = field(default_factory=list)


_MAX_REDIRECTS = 10


def _why_unusable(queries: list[dict[str, Any]], connected: Sequence[_Connected]) -> str:
    """The failure that kept a hop's host from HTTP: its first address's TLS or TCP failure,
    else its DNS failure (the A query's first)."""
    for c in connected:
        if c.tls and c.tls[0]["failure"] is not None:
            return str(c.tls[0]["failure"])
        if c.tcp["status"]["failure"] is not None:
            return str(c.tcp["status"]["failure"])
    failures = [q["failure"] for q in queries if q.get("failure")]
    a_failures = [q["failure"] for q in queries if q.get("failure") and q["query_type"] == "A"]
    return str((a_failures or failures or ["dns_no_answer"])[0])


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


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
