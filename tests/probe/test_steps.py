"""Each probe step against real loopback servers: OONI entries and failure strings."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from reachwatch.lab.servers import (
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
)
from reachwatch.probe import steps

T = TypeVar("T")
ZONE = {"x.com": ["127.0.0.1", "::1"], "api.x.com": ["127.0.0.1"]}


def run(coro: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(_bounded(coro))


async def _bounded(coro: Callable[[], Awaitable[T]]) -> T:
    return await asyncio.wait_for(coro(), 60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki(tmp_path_factory.mktemp("pki"))


def lab_context(pki: LabPki) -> ssl.SSLContext:
    return steps.make_ssl_context(str(pki.ca_file))


def test_udp_resolver_answers_a_and_aaaa_and_nxdomain() -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with DnsServer(ZONE, policy=DnsPolicy(nxdomain=frozenset({"t.co"}))) as dns_server:
            found = await steps.resolve_udp("x.com", dns_server.address, timeout=2)
            missing = await steps.resolve_udp("t.co", dns_server.address, timeout=2)
            return found, missing

    found, missing = run(scenario)
    by_type = {e["query_type"]: e for e in found}
    assert by_type["A"]["answers"][0]["ipv4"] == "127.0.0.1"
    assert by_type["AAAA"]["answers"][0]["ipv6"] == "::1"
    assert all(e["engine"] == "udp" and e["failure"] is None for e in found)
    assert by_type["A"]["resolver_address"].startswith("127.0.0.1:")
    assert steps.addresses_of(found) == ["127.0.0.1", "::1"]
    assert {e["failure"] for e in missing} == {"dns_nxdomain_error"}


def test_udp_resolver_that_never_answers_times_out() -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with DnsServer(ZONE, policy=DnsPolicy(drop=frozenset({"x.com"}))) as dns_server:
            return await steps.resolve_udp("x.com", dns_server.address, timeout=0.3)

    entries = run(scenario)
    assert {e["failure"] for e in entries} == {"generic_timeout_error"}


def test_doh_resolves_over_https(pki: LabPki) -> None:
    async def scenario() -> list[dict[str, Any]]:
        context = pki.server_context(["127.0.0.1"])
        async with DohServer(ZONE, ssl_context=context) as doh:
            return await steps.resolve_doh(
                "api.x.com", doh.url, timeout=3, ssl_context=lab_context(pki)
            )

    entries = run(scenario)
    by_type = {e["query_type"]: e for e in entries}
    assert by_type["A"]["engine"] == "doh"
    assert by_type["A"]["answers"][0]["ipv4"] == "127.0.0.1"
    assert by_type["AAAA"]["failure"] == "dns_no_answer"


def test_doh_with_an_untrusted_certificate_fails_verification(pki: LabPki) -> None:
    async def scenario() -> list[dict[str, Any]]:
        context = pki.server_context(["127.0.0.1"], untrusted=True)
        async with DohServer(ZONE, ssl_context=context) as doh:
            return await steps.resolve_doh(
                "x.com", doh.url, timeout=3, ssl_context=lab_context(pki)
            )

    assert {e["failure"] for e in run(scenario)} == {"ssl_unknown_authority"}


def test_getaddrinfo_of_a_literal_address_and_of_an_invalid_name() -> None:
    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        literal = await steps.resolve_getaddrinfo("127.0.0.1", timeout=2)
        # ".invalid" is reserved (RFC 6761): no resolver may answer it.
        invalid = await steps.resolve_getaddrinfo("no-such-host.invalid", timeout=2)
        return literal, invalid

    literal, invalid = run(scenario)
    by_type = {e["query_type"]: e for e in literal}
    assert by_type["A"]["engine"] == "getaddrinfo"
    assert by_type["A"]["answers"] == [{"answer_type": "A", "ipv4": "127.0.0.1", "ttl": None}]
    assert by_type["AAAA"]["failure"] == "dns_no_answer"
    assert all(e["failure"] for e in invalid)


def test_tcp_connect_success_and_refusal() -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with WebServer({"*": Page("X")}) as web:
            ok = await steps.tcp_connect("127.0.0.1", web.port, timeout=2)
        closed = await steps.tcp_connect("127.0.0.1", _closed_port(), timeout=2)
        return ok, closed

    ok, closed = run(scenario)
    assert ok["status"] == {"success": True, "failure": None, "blocked": None}
    assert closed["status"]["failure"] == "connection_refused"
    assert closed["status"]["success"] is False


def test_tls_handshake_records_the_session(pki: LabPki) -> None:
    async def scenario() -> dict[str, Any]:
        async with WebServer({"*": Page("X")}, ssl_context=pki.server_context(["x.com"])) as web:
            return await steps.tls_handshake(
                "127.0.0.1", web.port, "x.com", timeout=3, ssl_context=lab_context(pki)
            )

    entry = run(scenario)
    assert entry["failure"] is None
    assert entry["tls_version"] == "TLSv1.3"
    assert entry["cipher_suite"]
    assert entry["peer_certificates"][0]["format"] == "base64"
    assert entry["no_tls_verify"] is False
    assert entry["x_decoy_sni"] is False
    assert entry["t"] >= entry["t0"] >= 0


def test_tls_failures_map_to_ooni_strings(pki: LabPki) -> None:
    async def scenario() -> dict[str, dict[str, Any]]:
        good = pki.server_context(["x.com"])
        async with (
            WebServer({"*": Page("X")}, ssl_context=good, reset_snis=["x.com"]) as resets,
            WebServer({"*": Page("X")}, ssl_context=good, stall_all=True) as stalls,
            WebServer({"*": Page("X")}, ssl_context=good) as plain,
            WebServer(
                {"*": Page("X")}, ssl_context=pki.server_context(["x.com"], untrusted=True)
            ) as mitm,
        ):
            ctx = lab_context(pki)
            decoy_ctx = steps.make_ssl_context(str(pki.ca_file), verify=False)
            return {
                "reset": await steps.tls_handshake(
                    "127.0.0.1", resets.port, "x.com", timeout=3, ssl_context=ctx
                ),
                "decoy": await steps.tls_handshake(
                    "127.0.0.1",
                    resets.port,
                    steps.DECOY_SNI,
                    timeout=3,
                    ssl_context=decoy_ctx,
                    decoy=True,
                ),
                "stall": await steps.tls_handshake(
                    "127.0.0.1", stalls.port, "x.com", timeout=0.5, ssl_context=ctx
                ),
                "hostname": await steps.tls_handshake(
                    "127.0.0.1", plain.port, "api.x.com", timeout=3, ssl_context=ctx
                ),
                "authority": await steps.tls_handshake(
                    "127.0.0.1", mitm.port, "x.com", timeout=3, ssl_context=ctx
                ),
            }

    entries = run(scenario)
    assert entries["reset"]["failure"] == "connection_reset"
    assert entries["decoy"]["failure"] is None
    assert entries["decoy"]["x_decoy_sni"] is True
    assert entries["decoy"]["no_tls_verify"] is True
    assert entries["stall"]["failure"] == "generic_timeout_error"
    assert entries["hostname"]["failure"] == "ssl_invalid_hostname"
    assert entries["authority"]["failure"] == "ssl_unknown_authority"


def test_tls_peer_that_closes_during_the_handshake_is_eof() -> None:
    async def scenario() -> dict[str, Any]:
        async def close_after_hello(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            await reader.read(1)
            writer.close()

        server = await asyncio.start_server(close_after_hello, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await steps.tls_handshake(
                "127.0.0.1", port, "x.com", timeout=3, ssl_context=steps.make_ssl_context()
            )

    assert run(scenario)["failure"] == "eof_error"


def test_http_fetch_pins_the_address_and_extracts_the_title(pki: LabPki) -> None:
    async def scenario() -> list[dict[str, Any]]:
        sites = {"x.com": Page("X. It's what's happening"), "*": Page("other")}
        async with WebServer(sites, ssl_context=pki.server_context(["x.com"])) as web:
            return await steps.http_fetch(
                f"https://x.com:{web.port}/",
                address="127.0.0.1",
                timeout=3,
                ssl_context=lab_context(pki),
            )

    (entry,) = run(scenario)
    assert entry["failure"] is None
    assert entry["response"]["code"] == 200
    assert entry["response"]["x_title"] == "X. It's what's happening"
    assert entry["request"]["headers"]["Host"].startswith("x.com:")
    assert entry["address"].startswith("127.0.0.1:")
    assert entry["response"]["body_is_truncated"] is False


def test_http_fetch_follows_a_redirect_chain_last_request_first() -> None:
    async def scenario() -> list[dict[str, Any]]:
        sites: dict[str, Site] = {
            "*": {
                "/": Redirect(3, "/final"),
                "/hop/1": Redirect(3, "/final"),
                "/hop/2": Redirect(3, "/final"),
                "/final": Page("Landed"),
            }
        }
        async with WebServer(sites) as web:
            return await steps.http_fetch(
                f"http://x.com:{web.port}/",
                address="127.0.0.1",
                timeout=3,
                ssl_context=steps.make_ssl_context(),
            )

    entries = run(scenario)
    assert [e["response"]["code"] for e in entries] == [200, 302, 302, 302]
    assert entries[0]["request"]["url"].endswith("/final")
    assert entries[0]["response"]["x_title"] == "Landed"


def test_http_fetch_stops_after_max_redirects() -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with WebServer({"*": Redirect(50, "/never")}) as web:
            return await steps.http_fetch(
                f"http://x.com:{web.port}/",
                address="127.0.0.1",
                timeout=3,
                ssl_context=steps.make_ssl_context(),
                max_redirects=2,
            )

    entries = run(scenario)
    assert len(entries) == 3
    assert entries[0]["failure"] == "http_too_many_redirects"


def test_http_truncated_body_is_an_eof_with_the_partial_body() -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with WebServer({"*": Truncated(declared=100_000, sent=1_000)}) as web:
            return await steps.http_fetch(
                f"http://x.com:{web.port}/",
                address="127.0.0.1",
                timeout=3,
                ssl_context=steps.make_ssl_context(),
            )

    (entry,) = run(scenario)
    assert entry["failure"] == "eof_error"
    assert entry["response"]["code"] == 200
    assert entry["response"]["x_body_length"] == 1_000


def test_http_endless_body_is_capped() -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with WebServer({"*": Endless()}) as web:
            return await steps.http_fetch(
                f"http://x.com:{web.port}/",
                address="127.0.0.1",
                timeout=5,
                ssl_context=steps.make_ssl_context(),
                body_cap=64 * 1024,
            )

    (entry,) = run(scenario)
    assert entry["failure"] is None
    assert entry["response"]["body_is_truncated"] is True
    assert len(entry["response"]["body"]) == 64 * 1024
    assert entry["response"]["x_title"] == "Endless"


def test_http_to_a_stalled_server_times_out() -> None:
    async def scenario() -> list[dict[str, Any]]:
        sites = {"*": Page("X")}
        async with WebServer(
            sites, ssl_context=ssl.create_default_context(), stall_all=True
        ) as web:
            return await steps.http_fetch(
                f"https://x.com:{web.port}/",
                address="127.0.0.1",
                timeout=0.5,
                ssl_context=steps.make_ssl_context(),
            )

    (entry,) = run(scenario)
    assert entry["failure"] == "generic_timeout_error"


def test_quic_handshake_success_and_silence(pki: LabPki) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        async with QuicServer(pki.issue(["x.com"])) as quic:
            ok = await steps.quic_handshake(
                "127.0.0.1", quic.port, "x.com", timeout=3, ca_file=str(pki.ca_file)
            )
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind(("127.0.0.1", 0))
            quiet = await steps.quic_handshake(
                "127.0.0.1", silent.getsockname()[1], "x.com", timeout=0.5, ca_file=str(pki.ca_file)
            )
        return ok, quiet

    ok, quiet = run(scenario)
    assert ok["failure"] is None
    assert ok["alpn"] == "h3"
    assert quiet["failure"] == "generic_timeout_error"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_quic_handshake_over_ipv6(pki: LabPki) -> None:
    """asyncio takes a 2-tuple for the remote address of any family; the step once passed a
    4-tuple for IPv6 and every QUIC handshake over IPv6 failed before sending a packet."""

    async def scenario() -> dict[str, Any]:
        async with QuicServer(pki.issue(["x.com"]), host="::1") as quic:
            return await steps.quic_handshake(
                "::1", quic.port, "x.com", timeout=3, ca_file=str(pki.ca_file), local_address="::1"
            )

    entry = run(scenario)
    assert entry["failure"] is None
    assert entry["alpn"] == "h3"
    assert entry["address"].startswith("[::1]:")


def test_a_fault_of_the_probe_itself_is_not_a_network_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception the network cannot raise is recorded as the probe's fault, never as
    OONI's unknown_failure (which reads as the path failing)."""

    async def broken(*_args: Any, **_kwargs: Any) -> socket.socket:
        raise TypeError("2-tuple is expected")

    monkeypatch.setattr("reachwatch.probe._tcp_tls.open_tcp", broken)
    entry = run(lambda: steps.tcp_connect("127.0.0.1", _closed_port(), timeout=1))
    assert entry["status"]["failure"] == "x_probe_fault: TypeError: 2-tuple is expected"
    assert entry["status"]["success"] is False


def test_quic_with_an_untrusted_certificate_fails(pki: LabPki) -> None:
    async def scenario() -> dict[str, Any]:
        async with QuicServer(pki.issue(["x.com"], untrusted=True)) as quic:
            return await steps.quic_handshake(
                "127.0.0.1", quic.port, "x.com", timeout=3, ca_file=str(pki.ca_file)
            )

    assert run(scenario)["failure"] == "ssl_unknown_authority"


def test_throughput_sample_is_bounded_by_bytes(pki: LabPki) -> None:
    async def scenario() -> dict[str, Any]:
        async with WebServer(
            {"*": Large(8 << 20)}, ssl_context=pki.server_context(["x.com"])
        ) as web:
            return await steps.throughput_sample(
                f"https://x.com:{web.port}/big",
                address="127.0.0.1",
                ssl_context=lab_context(pki),
                max_bytes=1 << 20,
                max_seconds=5,
            )

    sample = run(scenario)
    assert sample["failure"] is None
    assert 1 << 20 <= sample["bytes"] < (1 << 20) + 128 * 1024
    assert sample["samples"][-1][1] == sample["bytes"]
    times = [t for t, _ in sample["samples"]]
    assert times == sorted(times)


def test_throughput_sample_is_bounded_by_time() -> None:
    async def scenario() -> dict[str, Any]:
        async with WebServer({"*": Endless()}) as web:
            return await steps.throughput_sample(
                f"http://x.com:{web.port}/",
                address="127.0.0.1",
                ssl_context=steps.make_ssl_context(),
                max_bytes=1 << 40,
                max_seconds=0.5,
            )

    sample = run(scenario)
    assert sample["failure"] is None
    assert sample["bytes"] > 0
    assert 0.5 <= sample["seconds"] < 1.5


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
