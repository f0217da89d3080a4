"""What a censor can do, one function per mechanism; scenario files name them with parameters.

A mechanism receives the `Setup` of the scenario being built and adds to it: iptables rules
and tc commands for the isp namespace, entries of the isp resolver's policy, or changes to the
internet side. To add a behaviour seen in the wild, write a function here decorated with
`@mechanism("name")` and a scenario file under scenarios/ that uses it; the harness needs no
change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reachwatch.lab._plan import (
    BOGON,
    CENSOR_BLOCKPAGE,
    CENSOR_MITM,
    CLIENT_ADDRESS,
    DOH_ADDRESS,
    AddressPlan,
)

Params = Mapping[str, Any]
Mechanism = Callable[["Setup", Params], None]

MECHANISMS: dict[str, Mechanism] = {}

# Connection marks: the throttled class and connections whose later packets are dropped.
THROTTLE_MARK = "0x10"
BLACKHOLE_MARK = "0x20"


@dataclass
class Setup:
    """Everything a scenario changes in the lab, filled by its mechanisms."""

    plan: AddressPlan
    isp_client_link: str  # the isp's interface toward the client (egress of downloads)
    iptables: list[list[str]] = field(default_factory=list)  # argv after `iptables`
    tc: list[list[str]] = field(default_factory=list)  # argv after `tc`
    resolver_drop: set[str] = field(default_factory=set)
    resolver_nxdomain: set[str] = field(default_factory=set)
    resolver_forged: dict[str, list[str]] = field(default_factory=dict)
    platform_servers: bool = True
    down_hosts: set[str] = field(default_factory=set)  # hosts whose servers are not running
    redirects: dict[str, str] = field(default_factory=dict)  # host -> where it redirects to
    ipv6_records: bool = False
    # The platform's pages: padding bytes, and the size of each write (0: the whole page at
    # once, which TLS sends in 16 KiB records). None: the lab's default page.
    page_padding: int | None = None
    page_chunk: int | None = None
    client_ipv6: bool = False  # the client's network routes IPv6
    reset_share: float = 0.0  # of the platform servers' connections, for every client
    challenge_clients: list[str] = field(default_factory=list)  # networks the CDN challenges
    dead_names: set[str] = field(default_factory=set)  # names the platform's zone no longer has
    rewrite_nxdomain: bool = False  # the isp resolver answers its search page for NXDOMAIN
    internet_rules: list[list[str]] = field(default_factory=list)  # iptables, internet side

    def rule(self, line: str) -> None:
        """Add an iptables rule for the isp namespace, written as after `iptables`."""
        self.iptables.append(line.split())

    def hosts(self, params: Params) -> list[str]:
        """The hosts a mechanism targets: `hosts:` in the scenario, else all the platform's."""
        chosen = params.get("hosts")
        return list(chosen) if chosen else self.plan.hosts

    def addresses(self, params: Params) -> list[str]:
        return [self.plan.v4[host] for host in self.hosts(params)]


def mechanism(name: str) -> Callable[[Mechanism], Mechanism]:
    def register(function: Mechanism) -> Mechanism:
        if name in MECHANISMS:
            raise ValueError(f"mechanism {name!r} defined twice")
        MECHANISMS[name] = function
        return function

    return register


def sni_match(host: str) -> str:
    """An iptables string match for exactly this SNI: the name with its 2-byte length prefix,
    so `x.com` does not also match `example.com`."""
    return f"-m string --algo bm --hex-string |{len(host):04x}|{host}"


# --- DNS --------------------------------------------------------------------------------


@mechanism("resolver_nxdomain")
def resolver_nxdomain(setup: Setup, params: Params) -> None:
    setup.resolver_nxdomain.update(setup.hosts(params))


@mechanism("resolver_bogon")
def resolver_bogon(setup: Setup, params: Params) -> None:
    for host in setup.hosts(params):
        setup.resolver_forged[host] = [str(params.get("address", BOGON))]


@mechanism("resolver_inject")
def resolver_inject(setup: Setup, params: Params) -> None:
    """Answer the address of the censor's blockpage server instead of the platform's
    (`address:` names another one)."""
    for host in setup.hosts(params):
        setup.resolver_forged[host] = [str(params.get("address", CENSOR_BLOCKPAGE))]


@mechanism("resolver_drop")
def resolver_drop(setup: Setup, params: Params) -> None:
    setup.resolver_drop.update(setup.hosts(params))


@mechanism("block_doh")
def block_doh(setup: Setup, params: Params) -> None:
    for proto in ("tcp", "udp"):
        setup.rule(f"-A FORWARD -d {DOH_ADDRESS} -p {proto} --dport 443 -j DROP")


# --- TCP/IP -----------------------------------------------------------------------------


@mechanism("drop_syn")
def drop_syn(setup: Setup, params: Params) -> None:
    for address in setup.addresses(params):
        setup.rule(f"-A FORWARD -d {address} -p tcp --syn -j DROP")


@mechanism("reset_syn")
def reset_syn(setup: Setup, params: Params) -> None:
    for address in setup.addresses(params):
        setup.rule(f"-A FORWARD -d {address} -p tcp --syn -j REJECT --reject-with tcp-reset")


@mechanism("drop_quic")
def drop_quic(setup: Setup, params: Params) -> None:
    for address in setup.addresses(params):
        setup.rule(f"-A FORWARD -d {address} -p udp --dport 443 -j DROP")


# --- TLS --------------------------------------------------------------------------------


@mechanism("sni_filter")
def sni_filter(setup: Setup, params: Params) -> None:
    """DPI on the ClientHello: `action: reset` sends an RST to the client; `action: drop`
    blackholes the rest of the connection."""
    action = params.get("action", "reset")
    if action not in ("reset", "drop"):
        raise ValueError(f"sni_filter action must be reset or drop, not {action!r}")
    for host in setup.hosts(params):
        match = f"-A FORWARD -p tcp --dport 443 {sni_match(host)}"
        if action == "reset":
            setup.rule(f"{match} -j REJECT --reject-with tcp-reset")
        else:
            setup.rule(f"{match} -j CONNMARK --set-mark {BLACKHOLE_MARK}")
    if action == "drop":
        setup.rule(f"-A FORWARD -m connmark --mark {BLACKHOLE_MARK} -j DROP")


def _divert(setup: Setup, params: Params, port: int, to: str) -> None:
    """Send TCP for the platform's addresses on `port` to the censor's own server at `to`."""
    for address in setup.addresses(params):
        setup.rule(
            f"-t nat -A PREROUTING -d {address} -p tcp --dport {port}"
            f" -j DNAT --to-destination {to}:{port}"
        )


@mechanism("tls_mitm")
def tls_mitm(setup: Setup, params: Params) -> None:
    """Divert TLS to the platform to the censor's server, which presents its own certificate."""
    _divert(setup, params, 443, CENSOR_MITM)


# --- HTTP -------------------------------------------------------------------------------


@mechanism("http_blockpage")
def http_blockpage(setup: Setup, params: Params) -> None:
    """A transparent proxy: plain HTTP to the platform is answered by the censor's blockpage."""
    _divert(setup, params, 80, CENSOR_BLOCKPAGE)


# --- throughput -------------------------------------------------------------------------


@mechanism("throttle_sni")
def throttle_sni(setup: Setup, params: Params) -> None:
    """Mark connections whose ClientHello names the platform; shape what they send back to the
    client to `rate` per platform address (one htb class each, with a short queue that drops
    like a policer rather than buffering seconds of data)."""
    rate = str(params.get("rate", "128kbit"))
    for host in setup.hosts(params):
        setup.rule(
            f"-t mangle -A FORWARD -p tcp --dport 443 {sni_match(host)}"
            f" -j CONNMARK --set-mark {THROTTLE_MARK}"
        )
    dev = setup.isp_client_link
    setup.tc.append(f"qdisc add dev {dev} root handle 1: htb default 10".split())
    setup.tc.append(f"class add dev {dev} parent 1: classid 1:10 htb rate 1gbit".split())
    for index, address in enumerate(setup.addresses(params)):
        classid = f"1:{0x20 + index:x}"
        # CLASSIFY picks the class itself: this kernel's tc has no fw classifier to match marks.
        setup.rule(
            f"-t mangle -A POSTROUTING -o {dev} -s {address} -m connmark --mark {THROTTLE_MARK}"
            f" -j CLASSIFY --set-class {classid}"
        )
        setup.tc.append(
            f"class add dev {dev} parent 1: classid {classid} htb rate {rate} ceil {rate}".split()
        )
        setup.tc.append(f"qdisc add dev {dev} parent {classid} pfifo limit 20".split())


# --- the internet side ------------------------------------------------------------------


@mechanism("servers_down")
def servers_down(setup: Setup, params: Params) -> None:
    """The platform's servers are not running at all (an outage, not censorship); with
    `hosts:`, only the servers of those hosts."""
    if params.get("hosts"):
        setup.down_hosts.update(setup.hosts(params))
    else:
        setup.platform_servers = False


@mechanism("redirect")
def redirect(setup: Setup, params: Params) -> None:
    """The platform's own servers answer `hosts` (default: every host but the target's) with
    a 302 to the URL `to`, as twitter.com redirects to x.com and t.co to anywhere."""
    target = params.get("to")
    if not isinstance(target, str) or not target.startswith(("http://", "https://")):
        raise ValueError("redirect needs `to:`, an http(s) URL")
    target_host = urlsplit(target).hostname
    chosen = setup.hosts(params) if params.get("hosts") else setup.plan.hosts
    for host in chosen:
        if host != target_host:
            setup.redirects[host] = target


@mechanism("page_size")
def page_size(setup: Setup, params: Params) -> None:
    """Serve pages of `bytes` bytes of padding, written `chunk` bytes at a time (default 0: all
    at once, so a slow TLS link delivers whole 16 KiB records a second or so apart)."""
    setup.page_padding = int(params["bytes"])
    setup.page_chunk = int(params.get("chunk", 0))


@mechanism("ipv6_records")
def ipv6_records(setup: Setup, params: Params) -> None:
    """Publish AAAA records (reachable from the internet side, not from the client)."""
    setup.ipv6_records = True


@mechanism("client_ipv6")
def client_ipv6(setup: Setup, params: Params) -> None:
    """The client's network routes IPv6 (a default IPv6 route through the isp)."""
    setup.client_ipv6 = True


@mechanism("flaky_origin")
def flaky_origin(setup: Setup, params: Params) -> None:
    """The platform's servers reset `share` of all connections, whoever connects (a server
    fault, not censorship)."""
    setup.reset_share = float(params.get("share", 0.5))


@mechanism("cdn_challenge")
def cdn_challenge(setup: Setup, params: Params) -> None:
    """The platform's own servers answer the client's network with a bot challenge (503,
    "checking your browser") instead of the page; the control gets the page."""
    setup.challenge_clients.append(str(params.get("network", f"{CLIENT_ADDRESS}/24")))


@mechanism("names_gone")
def names_gone(setup: Setup, params: Params) -> None:
    """The names no longer exist: the platform's zone answers NXDOMAIN for them."""
    setup.dead_names.update(setup.hosts(params))


@mechanism("resolver_rewrite_nxdomain")
def resolver_rewrite_nxdomain(setup: Setup, params: Params) -> None:
    """The isp resolver answers the address of the isp's search page for every name that
    does not exist (ads for typos), whichever name it is."""
    setup.rewrite_nxdomain = True


@mechanism("control_offline")
def control_offline(setup: Setup, params: Params) -> None:
    """The control answers the probe but reaches nothing itself: its own connections (to its
    resolver, to any server) are refused as network unreachable."""
    rule = "-A OUTPUT -o lo ! -d 127.0.0.0/8 -j REJECT --reject-with icmp-net-unreachable"
    setup.internet_rules.append(rule.split())
