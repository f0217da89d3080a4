"""What `reachwatch probe` measures: a platform's URLs from the catalog, or plain URLs."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from reachwatch.catalog import Catalog, CatalogError, load_catalog
from reachwatch.errors import ReachwatchError


class TargetError(ReachwatchError):
    """Nothing that can be probed: an unknown platform or a URL that is not http(s)."""


_MAX_NAME = 253  # RFC 1035: a name's text form, without the final dot


@dataclass(frozen=True, slots=True)
class Target:
    """One URL to measure, and the platform it was taken from (None for a plain URL)."""

    url: str
    platform: str | None = None


def expand_targets(names: Sequence[str], catalog: Catalog | None = None) -> list[Target]:
    """Platform names become all of the platform's URLs; URLs are checked and kept.

    Raises TargetError for an unknown platform or a malformed URL.
    """
    catalog = catalog or load_catalog()
    targets: dict[str, Target] = {}
    for name in names:
        if "://" in name:
            url = ascii_url(name)
            targets.setdefault(url, Target(url))
            continue
        try:
            platform = catalog.get(name)  # CatalogError names the known platforms
        except CatalogError as exc:
            raise TargetError(f"{exc}{_url_hint(name)}") from None
        for url in platform.urls:
            targets.setdefault(url, Target(url, platform.name))
    if not targets:
        raise TargetError("nothing to probe: give a platform name or a URL")
    return list(targets.values())


def _url_hint(name: str) -> str:
    """ "; did you mean https://x.com/?" when a name that is no platform reads as a host."""
    host = name.strip().rstrip("/")
    if "." not in host and ":" not in host:
        return ""
    guess = f"https://{host}/" if "/" not in host else f"https://{host}"
    try:
        ascii_url(guess)
    except TargetError:
        return ""
    return f"; to probe a URL, give it with its scheme: {guess}"


def check_url(url: str) -> None:
    """Raise TargetError unless url is an http(s) URL with a host and a valid port."""
    ascii_url(url)


def ascii_url(url: str) -> str:
    """url, checked (TargetError when it cannot be probed), with an international host name in
    its ASCII form (IDNA): the form DNS, SNI and the Host header all carry."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # unbalanced IPv6 brackets
        raise TargetError(f"bad URL {_shown(url)}: {exc}") from None
    try:
        port = parts.port
    except ValueError:
        raise TargetError(f"bad URL {_shown(url)}: invalid port") from None
    if parts.scheme not in ("http", "https"):
        raise TargetError(f"bad URL {_shown(url)}: only http:// and https:// URLs can be probed")
    host = parts.hostname
    ascii_host = _ascii_host(host) if host else None
    if ascii_host is None or port == 0:
        raise TargetError(f"bad URL {_shown(url)}: no valid host name")
    if ascii_host == host:
        return url
    netloc = ascii_host if port is None else f"{ascii_host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _ascii_host(host: str) -> str | None:
    """The host as DNS knows it, or None when it is no valid address or name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        name = host.encode("idna").decode("ascii")
    except UnicodeError:  # an empty label, a label over 63 characters, a forbidden character
        return None
    labels = name.rstrip(".").split(".")
    valid = len(name.rstrip(".")) <= _MAX_NAME and all(
        0 < len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum()
        for label in labels
    )
    return name if valid and name.isascii() else None


def _shown(url: str) -> str:
    """url quoted for an error line, shortened so that the line stays one readable line."""
    return repr(url if len(url) <= 100 else url[:97] + "...")
