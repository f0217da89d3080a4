"""How much work one control request may cause, and how the control resolves and trusts."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    """Bounds on every request, so the control cannot be made to do unbounded work."""

    max_body_bytes: int = 64 * 1024
    max_endpoints: int = 32  # addresses a request may name
    max_resolved: int = 16  # addresses the control's own resolver may add
    max_concurrent_requests: int = 16
    max_per_client: int = 8  # slots one client (address, IPv6 /64) may hold; a probe asks 8 at once
    queue_wait: float = 5.0  # how long a request waits for a free slot before 503
    max_parallel_steps: int = 16  # connections one request has open at once
    max_request_connections: int = 32  # connections one request may open in all
    max_request_bytes: int = 4 * 1024 * 1024  # response bytes one request may download
    budget: float = 25.0  # wall time for the whole measurement
    header_timeout: float = 10.0  # from accepting a connection to the end of its headers
    body_timeout: float = 10.0  # for the request body, once the headers are in
    max_connections_per_client: int = 32
    max_connections: int = 1024
    dns_timeout: float = 5.0
    connect_timeout: float = 5.0
    http_timeout: float = 10.0
    quic_timeout: float = 5.0
    body_cap: int = 512 * 1024
    max_redirects: int = 10
    throughput_bytes: int = 8 * 1024 * 1024
    throughput_seconds: float = 5.0

    @property
    def connection_lifetime(self) -> float:
        """How long any connection may stay open: reading, measuring, and writing the answer."""
        return self.header_timeout + self.body_timeout + self.queue_wait + self.budget + 10.0


@dataclass(frozen=True)
class ControlConfig:
    """Everything a control server needs besides where to listen."""

    resolver: tuple[str, int] | None = None  # plain UDP resolver; None = the system resolver
    ca_file: str | None = None  # replaces the trust store (labs, enterprise roots)
    allow_private: bool = False
    ports: frozenset[int] | None = None  # allowed target ports without allow_private
    limits: Limits = field(default_factory=Limits)


def parse_resolver(text: str) -> tuple[str, int]:
    """Parse ADDR[:PORT] ("192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53", "::1")."""
    text = text.strip()
    port = 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"resolver {text!r} is not ADDR[:PORT]")
        port_text = rest[1:] if rest else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"resolver {text!r} must be an IP address, optionally with :PORT"
        ) from None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"resolver {text!r} has an invalid port")
        port = int(port_text)
    return host, port
