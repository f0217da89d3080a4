"""The control request: OONI's test-helper request shape, parsed and bounded.

`{"http_request": url, "http_request_headers": {...}, "tcp_connect": ["ip:port", ...],
"x_quic": bool, "x_throughput": bool}`. Unknown keys are ignored so OONI clients work as is.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reachwatch.control._safety import IPAddress

MAX_URL_LENGTH = 2048
MAX_HEADERS = 32
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")


class BadRequest(Exception):
    """The request is malformed or asks for more than the control does; answered with 400."""


@dataclass(frozen=True)
class Endpoint:
    """An IP address and a TCP/UDP port, written "ip:port" or "[ipv6]:port" on the wire."""

    ip: IPAddress
    port: int
    # How the request spelled it: answers are keyed the way the probe asked, since IPv6 has
    # several spellings (and str() of a mapped address differs between Python versions).
    text: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.text:
            return self.text
        if isinstance(self.ip, ipaddress.IPv6Address):
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ControlRequest:
    url: str
    scheme: str
    host: str  # an IP literal stays an IP literal (no brackets)
    port: int
    endpoints: tuple[Endpoint, ...]
    quic: bool
    throughput: bool

    @property
    def host_ip(self) -> IPAddress | None:
        """The URL's host as an address when the URL names an IP rather than a domain."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def parse_endpoint(text: str) -> Endpoint:
    """Parse "1.2.3.4:443" or "[2001:db8::1]:443"; BadRequest for anything else."""
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise BadRequest(f"endpoint {text!r} is not [ipv6]:port")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise BadRequest(f"endpoint {text!r} is not ip:port")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise BadRequest(f"endpoint {text!r} does not start with an IP address") from None
    if isinstance(ip, ipaddress.IPv6Address) and not text.startswith("["):
        raise BadRequest(f"endpoint {text!r}: IPv6 addresses are written [ip]:port")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BadRequest(f"endpoint {text!r} has no valid port")
    return Endpoint(ip, int(port_text), text)


def _parse_url(value: Any) -> tuple[str, str, str, int]:
    if not isinstance(value, str) or not value:
        raise BadRequest("http_request must be a URL string")
    if len(value) > MAX_URL_LENGTH:
        raise BadRequest(f"http_request is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(value)
    except ValueError:  # unbalanced IPv6 brackets
        raise BadRequest("http_request is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise BadRequest("http_request must be an http:// or https:// URL")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise BadRequest("http_request has an invalid port") from None
    if not host:
        raise BadRequest("http_request has no host")
    _check_host(host)
    if parts.username is not None or parts.password is not None:
        raise BadRequest("http_request must not carry credentials")
    return value, parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _check_host(host: str) -> None:
    """An IP literal or a DNS name in ASCII (IDNs in their xn-- form), as resolvers take it."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    name = host.removesuffix(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise BadRequest(f"http_request host {host!r} is not a DNS name (IDNs as xn--)")


def _check_headers(value: Any) -> None:
    # Validated for shape only: the control sends the same fixed headers as the probe.
    if value is None:
        return
    if not isinstance(value, dict) or len(value) > MAX_HEADERS:
        raise BadRequest(f"http_request_headers must be an object of at most {MAX_HEADERS} keys")
    for key, item in value.items():
        values = item if isinstance(item, list) else [item]
        if not isinstance(key, str) or not all(isinstance(v, str) for v in values):
            raise BadRequest("http_request_headers maps names to strings or lists of strings")


def _flag(doc: dict[str, Any], key: str) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be true or false")
    return value


def parse_request(doc: Any, *, max_endpoints: int) -> ControlRequest:
    """Validate a decoded JSON request body; raises BadRequest with a reason a client can show."""
    if not isinstance(doc, dict):
        raise BadRequest("the request body must be a JSON object")
    url, scheme, host, port = _parse_url(doc.get("http_request"))
    _check_headers(doc.get("http_request_headers"))
    raw_endpoints = doc.get("tcp_connect") or []
    if not isinstance(raw_endpoints, list) or not all(isinstance(e, str) for e in raw_endpoints):
        raise BadRequest("tcp_connect must be a list of 'ip:port' strings")
    if len(raw_endpoints) > max_endpoints:
        raise BadRequest(f"tcp_connect lists more than {max_endpoints} addresses")
    endpoints = tuple(dict.fromkeys(parse_endpoint(e) for e in raw_endpoints))
    return ControlRequest(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        endpoints=endpoints,
        quic=_flag(doc, "x_quic"),
        throughput=_flag(doc, "x_throughput"),
    )
