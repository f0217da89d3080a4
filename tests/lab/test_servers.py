"""The lab servers on loopback: real sockets, real TLS, real DNS wire format."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import pytest
from aioquic.asyncio.client import connect as quic_connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent

from reachwatch.lab.servers import (
    BLOCKPAGE_TEXT,
    DnsPolicy,
    DnsServer,
    DohServer,
    Endless,
    LabPki,
    Large,
    Page,
    QuicServer,
    Redirect,
    Site,
    Truncated,
    WebServer,
    blockpage,
    parse_sni,
)

T = TypeVar("T")
HOSTS = ["x.com", "api.x.com", "decoy.example"]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki(tmp_path_factory.mktemp("pki"))


async def fetch(
    port: int,
    host: str,
    path: str = "/",
    *,
    context: ssl.SSLContext | None = None,
    cap: int = 1 << 20,
) -> tuple[int, dict[str, str], bytes]:
    """GET over a fresh connection; the body is read until close or `cap` bytes."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=context, server_hostname=host if context else None
    )
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status = int(head.split(" ")[1])
    headers = {
        k.strip().lower(): v.strip()
        for k, v in (line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line)
    }
    body = b""
    while len(body) < cap:
        chunk = await reader.read(65536)
        if not chunk:
            break
        body += chunk
    writer.close()
    return status, headers, body


def query(name: str, rdtype: str = "A") -> dns.message.QueryMessage:
    return dns.message.make_query(name, rdtype)


def addresses(response: dns.message.Message) -> list[str]:
    return sorted(rd.to_text() for rrset in response.answer for rd in rrset)


# --- certificates -------------------------------------------------------------------------


def test_leaf_verifies_against_lab_ca_only(pki: LabPki) -> None:
    async def handshake(server_ctx: ssl.SSLContext, name: str) -> str | None:
        async with WebServer({"*": Page("ok")}, ssl_context=server_ctx) as server:
            try:
                _, writer = await asyncio.open_connection(
                    "127.0.0.1", server.port, ssl=pki.client_context(), server_hostname=name
                )
            except ssl.SSLCertVerificationError as exc:
                return str(exc.verify_message)
            writer.close()
            return None

    assert run(handshake(pki.server_context(HOSTS), "api.x.com")) is None
    mitm = run(handshake(pki.server_context(HOSTS, untrusted=True), "x.com"))
    assert mitm is not None and "unable to get local issuer" in mitm
    wrong_name = run(handshake(pki.server_context(["other.example"]), "x.com"))
    assert wrong_name is not None and "mismatch" in wrong_name.lower()
    assert pki.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_ip_address_san(pki: LabPki) -> None:
    async def main() -> int:
        context = pki.server_context(["127.0.0.1"])
        async with WebServer({"*": Page("by ip")}, ssl_context=context) as server:
            status, _, _ = await fetch(server.port, "127.0.0.1", context=pki.client_context())
            return status

    assert run(main()) == 200


# --- DNS ----------------------------------------------------------------------------------

ZONE = {"x.com": ["127.0.0.1", "::1"], "api.x.com": ["127.0.0.2"]}


def test_dns_udp_and_tcp_answers_and_nxdomain() -> None:
    async def main() -> None:
        async with DnsServer(ZONE) as server:
            a = await dns.asyncquery.udp(query("x.com"), "127.0.0.1", port=server.port, timeout=2)
            assert addresses(a) == ["127.0.0.1"]
            aaaa = await dns.asyncquery.tcp(
                query("X.COM.", "AAAA"), "127.0.0.1", port=server.port, timeout=2
            )
            assert addresses(aaaa) == ["::1"]
            no_v6 = await dns.asyncquery.udp(
                query("api.x.com", "AAAA"), "127.0.0.1", port=server.port, timeout=2
            )
            assert no_v6.rcode() == dns.rcode.NOERROR and addresses(no_v6) == []
            missing = await dns.asyncquery.udp(
                query("nope.x.com"), "127.0.0.1", port=server.port, timeout=2
            )
            assert missing.rcode() == dns.rcode.NXDOMAIN

    run(main())


def test_censor_resolver_policies_and_upstream() -> None:
    async def main() -> None:
        async with DnsServer(ZONE) as upstream:
            policy = DnsPolicy(
                nxdomain=frozenset({"x.com"}),
                forged={"api.x.com": ["10.10.34.36"]},
                drop=frozenset({"t.co"}),
                upstream=("127.0.0.1", upstream.port),
            )
            async with DnsServer({"isp.example": ["127.0.0.9"]}, policy=policy) as isp:
                port = isp.port
                nx = await dns.asyncquery.udp(query("x.com"), "127.0.0.1", port=port, timeout=2)
                assert nx.rcode() == dns.rcode.NXDOMAIN
                sub = await dns.asyncquery.udp(
                    query("www.x.com"), "127.0.0.1", port=port, timeout=2
                )
                assert sub.rcode() == dns.rcode.NXDOMAIN  # subdomains follow their parent
                forged = await dns.asyncquery.udp(
                    query("api.x.com"), "127.0.0.1", port=port, timeout=2
                )
                assert addresses(forged) == ["10.10.34.36"]
                own = await dns.asyncquery.tcp(
                    query("isp.example"), "127.0.0.1", port=port, timeout=2
                )
                assert addresses(own) == ["127.0.0.9"]
                with pytest.raises(dns.exception.Timeout):
                    await dns.asyncquery.udp(query("t.co"), "127.0.0.1", port=port, timeout=0.5)
            # Without the policy, upstream answers truthfully: forwarding reaches it.
            policy_fwd = DnsPolicy(upstream=("127.0.0.1", upstream.port))
            async with DnsServer({}, policy=policy_fwd) as forwarder:
                fwd = await dns.asyncquery.udp(
                    query("x.com"), "127.0.0.1", port=forwarder.port, timeout=2
                )
                assert addresses(fwd) == ["127.0.0.1"]

    run(main())


def test_doh_post_and_get(pki: LabPki) -> None:
    async def main() -> None:
        ctx = pki.server_context(["127.0.0.1"])
        async with DohServer(ZONE, ssl_context=ctx) as doh:
            assert doh.url == f"https://127.0.0.1:{doh.port}/dns-query"
            wire = query("x.com").to_wire()
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", doh.port, ssl=pki.client_context(), server_hostname="127.0.0.1"
            )
            writer.write(
                b"POST /dns-query HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/dns-message\r\n"
                + f"Content-Length: {len(wire)}\r\n\r\n".encode()
                + wire
            )
            raw = await reader.read()
            writer.close()
            head, body = raw.split(b"\r\n\r\n", 1)
            assert b"application/dns-message" in head
            assert addresses(dns.message.from_wire(body)) == ["127.0.0.1"]

            encoded = base64.urlsafe_b64encode(query("gone.example").to_wire()).rstrip(b"=")
            status, headers, body = await fetch(
                doh.port,
                "127.0.0.1",
                f"/dns-query?dns={encoded.decode()}",
                context=pki.client_context(),
            )
            assert status == 200 and headers["content-type"] == "application/dns-message"
            assert dns.message.from_wire(body).rcode() == dns.rcode.NXDOMAIN

    run(main())


# --- web ----------------------------------------------------------------------------------


def test_per_host_pages_blockpage_and_redirect_chain(pki: LabPki) -> None:
    sites: dict[str, Site] = {
        "x.com": Page("X. It's what's happening"),
        "api.x.com": blockpage(),
        "decoy.example": {"/landing": Page("Landed"), "*": Redirect(3, "/landing")},
    }

    async def main() -> None:
        ctx = pki.client_context()
        async with WebServer(sites, ssl_context=pki.server_context(HOSTS)) as https:
            status, _, body = await fetch(https.port, "x.com", context=ctx)
            assert status == 200 and b"<title>X. It&#x27;s what&#x27;s happening</title>" in body
            status, _, body = await fetch(https.port, "api.x.com", context=ctx)
            assert status == 200 and BLOCKPAGE_TEXT.encode() in body
            chain = []
            path = "/"
            for _ in range(5):
                status, headers, body = await fetch(https.port, "decoy.example", path, context=ctx)
                if status != 302:
                    break
                path = headers["location"]
                chain.append(path)
            assert chain == ["/hop/1", "/hop/2", "/landing"]
            assert b"<title>Landed</title>" in body
        async with WebServer(sites) as http:
            status, _, body = await fetch(http.port, "x.com")
            assert status == 200 and b"<title>" in body
            status, _, _ = await fetch(http.port, "unknown.example")
            assert status == 404

    run(main())


def test_truncated_endless_and_large_bodies() -> None:
    sites: dict[str, Site] = {
        "t.example": Truncated(declared=50_000, sent=1_000),
        "e.example": Endless(),
        "l.example": Large(size=3_000_000),
    }

    async def main() -> None:
        async with WebServer(sites) as server:
            _, headers, body = await fetch(server.port, "t.example")
            assert headers["content-length"] == "50000" and len(body) == 1_000
            _, headers, body = await fetch(server.port, "e.example", cap=2_000_000)
            assert headers["transfer-encoding"] == "chunked" and len(body) >= 2_000_000
            _, headers, body = await fetch(server.port, "l.example", cap=10_000_000)
            assert headers["content-length"] == "3000000" and len(body) == 3_000_000

    run(main())


def test_stop_ends_endless_connections() -> None:
    async def main() -> bool:
        server = await WebServer({"*": Endless()}).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        await reader.readexactly(100_000)
        await server.stop()

        async def drain() -> None:
            with contextlib.suppress(ConnectionResetError):
                while await reader.read(1 << 20):
                    pass

        # The endless stream must end soon after stop (EOF or reset), not keep flowing.
        await asyncio.wait_for(drain(), 5)
        writer.close()
        return True

    assert run(main())


# --- TLS tricks ---------------------------------------------------------------------------


def test_reset_after_client_hello_for_one_sni_only(pki: LabPki) -> None:
    async def handshake(port: int, name: str) -> str:
        try:
            _, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=pki.client_context(), server_hostname=name
            )
        except ConnectionResetError:
            return "reset"
        writer.close()
        return "ok"

    async def main() -> tuple[str, str]:
        server = WebServer(
            {"*": Page("ok")}, ssl_context=pki.server_context(HOSTS), reset_snis=["x.com"]
        )
        async with server:
            return await handshake(server.port, "x.com"), await handshake(
                server.port, "decoy.example"
            )

    assert run(main()) == ("reset", "ok")


def test_handshake_that_never_finishes(pki: LabPki) -> None:
    async def attempt(server: WebServer, name: str) -> str:
        try:
            await asyncio.wait_for(
                asyncio.open_connection(
                    "127.0.0.1", server.port, ssl=pki.client_context(), server_hostname=name
                ),
                1.0,
            )
        except TimeoutError:
            return "timeout"
        return "ok"

    async def main() -> list[str]:
        ctx = pki.server_context(HOSTS)
        async with (
            WebServer({"*": Page("x")}, ssl_context=ctx, stall_all=True) as all_stall,
            WebServer({"*": Page("x")}, ssl_context=ctx, stall_snis=["x.com"]) as one_stall,
        ):
            return [
                await attempt(all_stall, "decoy.example"),
                await attempt(one_stall, "x.com"),
                await attempt(one_stall, "decoy.example"),
            ]

    assert run(main()) == ["timeout", "timeout", "ok"]


def test_parse_sni_from_a_real_client_hello(pki: LabPki) -> None:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = pki.client_context().wrap_bio(incoming, outgoing, server_hostname="Video.Twimg.com")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    assert parse_sni(hello) == "video.twimg.com"
    assert parse_sni(hello[:20]) is None
    assert parse_sni(b"GET / HTTP/1.1\r\n\r\n") is None


# --- QUIC ---------------------------------------------------------------------------------


def test_quic_handshake_with_h3_alpn(pki: LabPki) -> None:
    async def main() -> str | None:
        async with QuicServer(pki.issue(HOSTS)) as server:
            config = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name="x.com")
            config.load_verify_locations(str(pki.ca_file))
            async with quic_connect("127.0.0.1", server.port, configuration=config) as client:
                await client.ping()
                return client._quic.tls.alpn_negotiated

    assert run(main()) == "h3"


class _H3Client(QuicConnectionProtocol):
    """Just enough HTTP/3 to send one GET and collect the response."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.headers: dict[bytes, bytes] = {}
        self.body = b""
        self.done = asyncio.Event()

    def quic_event_received(self, event: QuicEvent) -> None:
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                self.headers.update(h3_event.headers)
            elif isinstance(h3_event, DataReceived):
                self.body += h3_event.data
            if getattr(h3_event, "stream_ended", False):
                self.done.set()


def test_quic_serves_a_page_over_http3(pki: LabPki) -> None:
    async def main() -> tuple[bytes, bytes]:
        async with QuicServer(pki.issue(HOSTS)) as server:
            config = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name="x.com")
            config.load_verify_locations(str(pki.ca_file))
            async with quic_connect(
                "127.0.0.1", server.port, configuration=config, create_protocol=_H3Client
            ) as client:
                assert isinstance(client, _H3Client)
                stream_id = client._quic.get_next_available_stream_id()
                client.h3.send_headers(
                    stream_id,
                    [
                        (b":method", b"GET"),
                        (b":scheme", b"https"),
                        (b":authority", b"x.com"),
                        (b":path", b"/"),
                    ],
                    end_stream=True,
                )
                client.transmit()
                await asyncio.wait_for(client.done.wait(), 5)
                return client.headers[b":status"], client.body

    status, body = run(main())
    assert status == b"200" and b"<title>x.com</title>" in body


def test_quic_rejects_untrusted_name(pki: LabPki, tmp_path: Path) -> None:
    async def main() -> None:
        async with QuicServer(pki.issue(["other.example"])) as server:
            config = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name="x.com")
            config.load_verify_locations(str(pki.ca_file))
            async with quic_connect("127.0.0.1", server.port, configuration=config):
                pass

    with pytest.raises(ConnectionError):
        run(main())


def test_resolver_rewriting_nxdomain_answers_every_nonexistent_name() -> None:
    async def main() -> None:
        async with DnsServer(ZONE) as upstream:
            policy = DnsPolicy(
                upstream=("127.0.0.1", upstream.port), rewrite_nxdomain=("127.0.0.53",)
            )
            async with DnsServer({}, policy=policy) as isp:
                for name in ("gone.example", "rw-canary-0123.com"):
                    answer = await dns.asyncquery.udp(
                        query(name), "127.0.0.1", port=isp.port, timeout=2
                    )
                    assert (answer.rcode(), addresses(answer)) == (
                        dns.rcode.NOERROR,
                        ["127.0.0.53"],
                    )
                real = await dns.asyncquery.udp(query("x.com"), "127.0.0.1", port=isp.port)
                assert addresses(real) == ["127.0.0.1"]  # names that exist are untouched

    run(main())


def test_flaky_server_resets_its_share_of_connections() -> None:
    async def main() -> None:
        sites: dict[str, Site] = {"x.com": Page("X")}
        async with WebServer(sites, reset_share=1.0) as always:
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await fetch(always.port, "x.com")
        async with WebServer(sites, reset_share=0.5) as half:
            outcomes = []
            for _ in range(40):
                try:
                    outcomes.append((await fetch(half.port, "x.com"))[0])
                except (ConnectionError, asyncio.IncompleteReadError):
                    outcomes.append(0)
            # Both outcomes happen (the chance of 40 alike is 2 in a trillion).
            assert 0 in outcomes and 200 in outcomes

    run(main())


def test_cdn_challenge_for_a_client_network_only() -> None:
    async def main() -> None:
        sites: dict[str, Site] = {"x.com": Page("X")}
        async with WebServer(sites, challenge_clients=["127.0.0.0/8"]) as challenged:
            status, _, body = await fetch(challenged.port, "x.com")
            assert status == 503 and b"Checking your browser" in body
        async with WebServer(sites, challenge_clients=["198.18.1.0/24"]) as elsewhere:
            status, _, body = await fetch(elsewhere.port, "x.com")
            assert status == 200 and b"<title>X</title>" in body

    run(main())
