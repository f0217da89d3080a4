"""The three namespaces (client, isp, internet), their links, addresses and routes.

Links are created directly inside the namespaces (`ip link add ... netns`), so the host's own
interfaces, routes and firewall are never touched. Every name starts with NAME_PREFIX, which is
how `clean_leftovers` finds what a killed lab left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from reachwatch.lab._plan import (
    AUTHORITATIVE_DNS,
    CENSOR_BLOCKPAGE,
    CENSOR_MITM,
    CLIENT_ADDRESS,
    CLIENT_ADDRESS6,
    CLIENT_NET6,
    CONTROL_ADDRESS,
    DOH_ADDRESS,
    INTERNET_ISP_SIDE,
    INTERNET_ISP_SIDE6,
    ISP_CLIENT_SIDE,
    ISP_CLIENT_SIDE6,
    ISP_INTERNET_SIDE,
    ISP_INTERNET_SIDE6,
    ISP_RESOLVER,
    ISP_SEARCH,
    PLATFORM_NET6,
    AddressPlan,
)
from reachwatch.lab._system import in_ns, run

NAME_PREFIX = "rwlab"
_NETNS_ETC = Path("/etc/netns")
# A running lab leaves its pid here, so `clean` never tears down a lab that is still in use.
_RUN_DIR = Path("/run/reachwatch-lab")


@dataclass(frozen=True)
class Topology:
    """Names of one lab instance; `build()` creates it, `destroy()` removes all of it."""

    lab_id: str

    @classmethod
    def fresh(cls) -> Topology:
        return cls(f"{NAME_PREFIX}{secrets.token_hex(2)}")

    @property
    def client(self) -> str:
        return f"{self.lab_id}-client"

    @property
    def isp(self) -> str:
        return f"{self.lab_id}-isp"

    @property
    def internet(self) -> str:
        return f"{self.lab_id}-inet"

    # Interface names stay under the kernel's 15 characters.
    @property
    def client_link(self) -> str:
        return f"{self.lab_id}-c"

    @property
    def isp_client_link(self) -> str:
        return f"{self.lab_id}-ic"

    @property
    def isp_internet_link(self) -> str:
        return f"{self.lab_id}-ii"

    @property
    def internet_link(self) -> str:
        return f"{self.lab_id}-n"

    def build(self, plan: AddressPlan) -> None:
        _RUN_DIR.mkdir(parents=True, exist_ok=True)
        (_RUN_DIR / f"{self.lab_id}.pid").write_text(str(os.getpid()), encoding="ascii")
        for namespace in (self.client, self.isp, self.internet):
            run(["ip", "netns", "add", namespace])
            run(in_ns(namespace, "ip", "link", "set", "lo", "up"))
        self._veth(self.client_link, self.client, self.isp_client_link, self.isp)
        self._veth(self.isp_internet_link, self.isp, self.internet_link, self.internet)
        self._address(self.client, self.client_link, f"{CLIENT_ADDRESS}/24")
        self._address(self.isp, self.isp_client_link, f"{ISP_CLIENT_SIDE}/24")
        self._address(self.isp, self.isp_internet_link, f"{ISP_INTERNET_SIDE}/24")
        self._address(self.internet, self.internet_link, f"{INTERNET_ISP_SIDE}/24")
        # One wire-sized packet per skb toward the client, so tc shapes packets, not 64 KB
        # offload bursts (a shaped flow would otherwise stall for seconds between bursts).
        run(in_ns(self.internet, *f"ip link set dev {self.internet_link} gso_max_segs 1".split()))
        # The client's default route ends at the isp, which has no default route: a packet
        # for anywhere outside the lab's ranges is answered "unreachable" inside the lab.
        run(in_ns(self.client, "ip", "route", "add", "default", "via", ISP_CLIENT_SIDE))
        # /proc/sys/net inside the namespace is the namespace's own (no procps needed).
        run(in_ns(self.isp, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"))
        run(in_ns(self.isp, "ip", "route", "add", "198.19.0.0/16", "via", INTERNET_ISP_SIDE))
        run(in_ns(self.internet, "ip", "route", "add", "198.18.0.0/15", "via", ISP_INTERNET_SIDE))
        self._ipv6_links()
        for address in (CENSOR_BLOCKPAGE, CENSOR_MITM, ISP_SEARCH):
            run(in_ns(self.isp, "ip", "addr", "add", f"{address}/32", "dev", "lo"))
        for address in (AUTHORITATIVE_DNS, DOH_ADDRESS, CONTROL_ADDRESS, *plan.v4.values()):
            run(in_ns(self.internet, "ip", "addr", "add", f"{address}/32", "dev", "lo"))
        for address in plan.v6.values():
            run(in_ns(self.internet, *f"ip -6 addr add {address}/128 dev lo nodad".split()))
        # The client's system resolver is the isp's (ip netns exec bind-mounts this file).
        etc = _NETNS_ETC / self.client
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(
            f"nameserver {ISP_RESOLVER}\noptions timeout:2 attempts:1\n", encoding="utf-8"
        )

    def _ipv6_links(self) -> None:
        """IPv6 on both links and routes between the client's and the platform's prefixes.
        The client gets no default IPv6 route here: a scenario adds it (`client_ipv6`), so a
        network without IPv6 stays the default."""
        for namespace, link, address in (
            (self.client, self.client_link, CLIENT_ADDRESS6),
            (self.isp, self.isp_client_link, ISP_CLIENT_SIDE6),
            (self.isp, self.isp_internet_link, ISP_INTERNET_SIDE6),
            (self.internet, self.internet_link, INTERNET_ISP_SIDE6),
        ):
            run(in_ns(namespace, *f"ip -6 addr add {address}/64 dev {link} nodad".split()))
        run(in_ns(self.isp, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"))
        run(in_ns(self.isp, *f"ip -6 route add {PLATFORM_NET6} via {INTERNET_ISP_SIDE6}".split()))
        run(
            in_ns(self.internet, *f"ip -6 route add {CLIENT_NET6} via {ISP_INTERNET_SIDE6}".split())
        )

    def route_client_ipv6(self) -> None:
        run(in_ns(self.client, *f"ip -6 route replace default via {ISP_CLIENT_SIDE6}".split()))

    def _veth(self, name: str, namespace: str, peer: str, peer_namespace: str) -> None:
        run(
            f"ip link add {name} netns {namespace} type veth"
            f" peer name {peer} netns {peer_namespace}".split()
        )

    def _address(self, namespace: str, link: str, cidr: str) -> None:
        run(in_ns(namespace, "ip", "addr", "add", cidr, "dev", link))
        run(in_ns(namespace, "ip", "link", "set", link, "up"))

    def reset_censor(self) -> None:
        """Remove every rule and qdisc a scenario added in the isp namespace."""
        for table in ("filter", "nat", "mangle"):
            run(in_ns(self.isp, "iptables", "-t", table, "-F"))
            run(in_ns(self.isp, "iptables", "-t", table, "-X"))
        run(in_ns(self.isp, "tc", "qdisc", "del", "dev", self.isp_client_link, "root"), check=False)
        run(in_ns(self.client, "ip", "-6", "route", "del", "default"), check=False)
        run(in_ns(self.internet, "iptables", "-F", "OUTPUT"))

    def destroy(self) -> None:
        remove_namespaces([self.client, self.isp, self.internet])
        (_RUN_DIR / f"{self.lab_id}.pid").unlink(missing_ok=True)


def remove_namespaces(names: list[str]) -> None:
    """Stop what runs in each namespace, then delete it (its links and rules go with it)."""
    existing = set(list_namespaces())
    for name in names:
        if name in existing:
            # Only processes inside the lab's own namespaces, each by its pid.
            for pid in run(["ip", "netns", "pids", name], check=False).split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(_NETNS_ETC / name, ignore_errors=True)


def list_namespaces() -> list[str]:
    out = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def clean_leftovers() -> list[str]:
    """Remove every lab namespace whose lab is gone (killed before its teardown)."""
    leftovers = [
        name
        for name in list_namespaces()
        if name.startswith(NAME_PREFIX) and not _lab_alive(name.split("-", 1)[0])
    ]
    remove_namespaces(leftovers)
    if _NETNS_ETC.is_dir():
        for stale in _NETNS_ETC.glob(f"{NAME_PREFIX}*"):
            if not _lab_alive(stale.name.split("-", 1)[0]):
                shutil.rmtree(stale, ignore_errors=True)
    return leftovers


def _lab_alive(lab_id: str) -> bool:
    pid_file = _RUN_DIR / f"{lab_id}.pid"
    try:
        pid = int(pid_file.read_text(encoding="ascii"))
        os.kill(pid, 0)
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return False
    return True
