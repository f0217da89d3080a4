"""The lab's address plan: every address lives in 198.18.0.0/15 or a private IPv6 ULA range."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from reachwatch.catalog import Platform

# client <-> isp link, isp <-> internet link, and the censor's own servers (on the isp's lo).
CLIENT_ADDRESS = "198.18.1.2"
ISP_CLIENT_SIDE = "198.18.1.1"
ISP_INTERNET_SIDE = "198.18.2.1"
INTERNET_ISP_SIDE = "198.18.2.2"
# The same links over IPv6 (ULA): the client only routes IPv6 when a scenario says so.
CLIENT_ADDRESS6 = "fd72:6c61:6201::2"
ISP_CLIENT_SIDE6 = "fd72:6c61:6201::1"
ISP_INTERNET_SIDE6 = "fd72:6c61:6202::1"
INTERNET_ISP_SIDE6 = "fd72:6c61:6202::2"
CLIENT_NET6 = "fd72:6c61:6201::/64"
PLATFORM_NET6 = "fd72:6c61:6200::/64"
CENSOR_BLOCKPAGE = "198.18.3.1"
CENSOR_MITM = "198.18.3.2"
ISP_SEARCH = "198.18.3.3"  # the ISP's search page, where it sends names that do not exist
# Services in the internet namespace (on its lo).
AUTHORITATIVE_DNS = "198.19.0.53"
DOH_ADDRESS = "198.19.0.54"
CONTROL_ADDRESS = "198.19.0.80"
PLATFORM_V4 = "198.19.1.{}"
PLATFORM_V6 = "fd72:6c61:6200::{:x}"  # ULA; only the no.ipv6 scenario publishes it
# A bogon no resolver should give for a public name (censors answer 127.0.0.1 or private
# addresses such as 10.10.34.36). Loopback keeps every packet inside the client namespace.
BOGON = "127.0.0.2"

ISP_RESOLVER = ISP_CLIENT_SIDE
DECOY_SITE = "example.com"


@dataclass(frozen=True)
class AddressPlan:
    """Where each host of the platform under test lives, and the lab's fixed services."""

    platform: Platform

    @cached_property
    def hosts(self) -> list[str]:
        return [host.host for host in self.platform.hosts]

    @cached_property
    def v4(self) -> dict[str, str]:
        return {host: PLATFORM_V4.format(i + 1) for i, host in enumerate(self.hosts)}

    @cached_property
    def v6(self) -> dict[str, str]:
        return {host: PLATFORM_V6.format(i + 1) for i, host in enumerate(self.hosts)}

    @property
    def platform_addresses(self) -> list[str]:
        return list(self.v4.values())

    def zone(self, *, ipv6: bool) -> dict[str, list[str]]:
        return {host: [self.v4[host], *([self.v6[host]] if ipv6 else [])] for host in self.hosts}

    @property
    def doh_url(self) -> str:
        return f"https://{DOH_ADDRESS}/dns-query"

    @property
    def control_url(self) -> str:
        return f"http://{CONTROL_ADDRESS}/"
