"""What `reachwatch probe` measures: a platform's URLs from the catalog, or plain URLs."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from reachwatch.catalog import Catalog, load_catalog
from reachwatch.errors import UserError


@dataclass(frozen=True, slots=True)
class Target:
    """One URL to measure, and the platform it was taken from (None for a plain URL)."""

    url: str
    platform: str | None = None


def expand_targets(names: Sequence[str], catalog: Catalog | None = None) -> list[Target]:
    """Platform names become all of the platform's URLs; URLs are checked and kept.

    Raises UserError for an unknown platform or a malformed URL.
    """
    catalog = catalog or load_catalog()
    targets: dict[str, Target] = {}
    for name in names:
        if "://" in name:
            check_url(name)
            targets.setdefault(name, Target(name))
            continue
        platform = catalog.get(name)  # UserError names the known platforms
        for url in platform.urls:
            targets.setdefault(url, Target(url, platform.name))
    if not targets:
        raise UserError("nothing to probe: give a platform name or a URL")
    return list(targets.values())


def check_url(url: str) -> None:
    """Raise UserError unless url is an http(s) URL with a host and a valid port."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UserError(f"bad URL {url!r}: only http:// and https:// URLs can be probed")
    try:
        port = parts.port
    except ValueError:
        raise UserError(f"bad URL {url!r}: invalid port") from None
    host = parts.hostname
    if not host or port == 0 or not _valid_host(host):
        raise UserError(f"bad URL {url!r}: no valid host name")


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return all(
        0 < len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum()
        for label in labels
    )
