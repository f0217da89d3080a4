"""Loads platform definitions from YAML files and answers 'which platform is this host?'."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from reachwatch.errors import ReachwatchError


class CatalogError(ReachwatchError):
    """An unknown platform, or a platform file that is not one."""


@dataclass(frozen=True, slots=True)
class Host:
    host: str
    role: str
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Platform:
    name: str
    title: str
    aliases: tuple[str, ...]
    domains: tuple[str, ...]
    asns: tuple[int, ...]
    hosts: tuple[Host, ...]

    @property
    def urls(self) -> list[str]:
        return [url for host in self.hosts for url in host.urls]

    def owns(self, hostname: str) -> bool:
        """True when hostname is one of the platform's domains or under one of them."""
        name = hostname.lower().rstrip(".")
        return any(name == d or name.endswith("." + d) for d in self.domains) or any(
            name == h.host for h in self.hosts
        )


class Catalog:
    def __init__(self, platforms: Iterable[Platform]) -> None:
        self._platforms = {p.name: p for p in platforms}
        # Former and common names (twitter for x) find the same platform.
        self._aliases = {a: p.name for p in self._platforms.values() for a in p.aliases}

    def __iter__(self) -> Any:
        return iter(self._platforms.values())

    def __len__(self) -> int:
        return len(self._platforms)

    def names(self) -> list[str]:
        return sorted(self._platforms)

    def get(self, name: str) -> Platform:
        try:
            key = name.lower()
            return self._platforms[self._aliases.get(key, key)]
        except KeyError:
            known = ", ".join(self.names())
            raise CatalogError(f"unknown platform {name!r} (known: {known})") from None

    def platform_for_host(self, hostname: str) -> str | None:
        """The platform a host belongs to, the most specific domain winning."""
        best: tuple[int, str] | None = None
        name = hostname.lower().rstrip(".")
        for platform in self._platforms.values():
            for domain in (*platform.domains, *(h.host for h in platform.hosts)):
                if (name == domain or name.endswith("." + domain)) and (
                    best is None or len(domain) > best[0]
                ):
                    best = (len(domain), platform.name)
        return best[1] if best else None


def _parse_platform(data: dict[str, Any], source: str) -> Platform:
    try:
        return Platform(
            name=str(data["name"]),
            title=str(data.get("title", data["name"])),
            aliases=tuple(str(a).lower() for a in data.get("aliases", [])),
            domains=tuple(str(d).lower() for d in data.get("domains", [])),
            asns=tuple(int(a["asn"]) for a in data.get("asns", [])),
            hosts=tuple(
                Host(
                    host=str(h["host"]).lower(),
                    role=str(h.get("role", "web")),
                    urls=tuple(str(u) for u in h["urls"]),
                )
                for h in data["hosts"]
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{source}: not a valid platform file ({exc})") from None


def load_catalog(directory: Path | None = None) -> Catalog:
    """The catalog from a folder of YAML files; the shipped one when no folder is given."""
    if directory is None:
        return _shipped_catalog()
    files = sorted(directory.glob("*.yaml"))
    return Catalog(_parse_platform(yaml.safe_load(f.read_text()), str(f)) for f in files)


@cache
def _shipped_catalog() -> Catalog:
    folder = resources.files("reachwatch.catalog") / "platforms"
    platforms = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            platforms.append(_parse_platform(yaml.safe_load(entry.read_text()), entry.name))
    return Catalog(platforms)


def platform_for_host(hostname: str) -> str | None:
    """The shipped catalog's platform for a host, or None."""
    return _shipped_catalog().platform_for_host(hostname)
