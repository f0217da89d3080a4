"""Hosts and endpoints: the host a URL names, and OONI's "ip:port" endpoint spelling."""

from __future__ import annotations

from urllib.parse import urlsplit


def url_host(url: str) -> str | None:
    """The host a URL names, lower-case, IPv6 without brackets; None when it names none or is
    not a URL urlsplit() can read (an unclosed bracket, a bad port)."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host or None


def endpoint(ip: str, port: int | str) -> str:
    """OONI's endpoint spelling: 1.2.3.4:443 and [2001:db8::1]:443."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def endpoint_ip(text: str) -> str:
    """The address part of an OONI endpoint ("[::1]:443" -> "::1", "1.2.3.4:80" -> "1.2.3.4")."""
    if text.startswith("["):
        return text[1 : text.find("]")]
    return text.rsplit(":", 1)[0]
