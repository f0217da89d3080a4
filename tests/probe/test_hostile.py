"""Hostile servers on loopback: every step ends with a failure string within its timeout, and
the probe still reaches a verdict."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from reachwatch.control import ControlServer, Limits
from reachwatch.formats.reachwatch import validate_measurement
from reachwatch.lab.servers import DnsServer, LabPki, Page, WebServer
from reachwatch.probe import ProbeOptions, ProbeRun, Target, check_control, probe, steps

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TIMEOUT = 1.5


@asynccontextmanager
async def tcp_server(handler: Handler) -> AsyncIterator[int]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def _request_read(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def enormous_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request_read(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n")
    await writer.drain()


async def endless_header_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request_read(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while True:  # a few bytes at a time, never a line end: only the timeout ends this
        writer.write(b"a" * 8)
        await writer.drain()
        await asyncio.sleep(0.01)


async def redirect_to_itself(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request_read(reader)
    writer.write(b"HTTP/1.1 302 Found\r\nLocation: /\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


async def redirect_to_ftp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request_read(reader)
    writer.write(b"HTTP/1.1 302 Found\r\nLocation: ftp://x.com/f\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


async def redirect_to_no_url(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _request_read(reader)
    writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()


async def invalid_tls_record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1024)  # the ClientHello
    writer.write(b"\x16\x03\x01\xff\xff" + b"not a handshake" * 64)
    await writer.drain()
    await asyncio.sleep(5)


@pytest.mark.parametrize(
    ("handler", "scheme", "failure"),
    [
        (enormous_header, "http", "http_protocol_error"),
        (endless_header_line, "http", "generic_timeout_error"),
        (redirect_to_itself, "http", "http_too_many_redirects"),
        (redirect_to_ftp, "http", "http_unsupported_url"),
        (redirect_to_no_url, "http", "unknown_failure: failed to parse Location header"),
        (invalid_tls_record, "https", "ssl_failed_handshake"),
    ],
)
def test_hostile_web_server_ends_in_a_failure_within_the_timeout(
    handler: Handler, scheme: str, failure: str
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with tcp_server(handler) as port:
            return await steps.http_fetch(
                f"{scheme}://x.com:{port}/",
                address="127.0.0.1",
                timeout=TIMEOUT,
                ssl_context=steps.make_ssl_context(),
            )

    started = time.monotonic()
    entries = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert time.monotonic() - started < TIMEOUT + 1.0
    assert entries[0]["failure"].startswith(failure)
    assert len(entries) <= 11  # the redirect loop stops at ten redirects


def test_invalid_tls_record_fails_the_handshake_step() -> None:
    async def scenario() -> dict[str, Any]:
        async with tcp_server(invalid_tls_record) as port:
            return await steps.tls_handshake(
                "127.0.0.1",
                port,
                "x.com",
                timeout=TIMEOUT,
                ssl_context=steps.make_ssl_context(),
            )

    entry = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert entry["failure"].startswith("ssl_failed_handshake")


class _GarbageDns(asyncio.DatagramProtocol):
    """Answers every query with the query's id followed by bytes that are no DNS message."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data[:2] + b"\x81\x80\x00\x01\x00\x05" + b"\xff" * 40, addr)


@asynccontextmanager
async def garbage_dns() -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_GarbageDns, local_addr=("127.0.0.1", 0))
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def test_dns_server_answering_garbage_is_a_failure_and_a_verdict() -> None:
    async def scenario() -> tuple[list[dict[str, Any]], ProbeRun]:
        async with garbage_dns() as port:
            entries = await steps.resolve_udp("x.com", ("127.0.0.1", port), timeout=TIMEOUT)
            options = ProbeOptions(
                resolver=("127.0.0.1", port),
                system_resolver=False,
                doh_url=None,
                control_url=None,
                dns_timeout=TIMEOUT,
            )
            return entries, await probe([Target("https://x.com/")], options)

    entries, run = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert [e["answers"] for e in entries] == [[], []]
    assert all(e["failure"].startswith("unknown_failure") for e in entries)
    (measurement,) = run.measurements
    validate_measurement(measurement)
    assert run.verdicts[0].verdict == "inconclusive"  # no control: nothing to compare with


def test_control_answering_malformed_objects_counts_as_no_control() -> None:
    # Shaped like a test-helper answer at the top, nonsense inside: the classifier cannot read
    # it, so the probe drops it instead of crashing.
    answer = orjson.dumps({"dns": {"addrs": 5}, "tcp_connect": {}, "http_request": {}})

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_read(reader)
        await reader.read(4096)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(answer)}\r\n\r\n".encode()
            + answer
        )
        await writer.drain()

    async def scenario() -> ProbeRun:
        async with tcp_server(control) as port:
            options = ProbeOptions(
                control_url=f"http://127.0.0.1:{port}/",
                system_resolver=False,
                doh_url=None,
                quic=False,
                throughput=False,
                connect_timeout=TIMEOUT,
                http_timeout=TIMEOUT,
            )
            return await probe([Target("http://127.0.0.1:9/")], options)

    run = asyncio.run(asyncio.wait_for(scenario(), 30))
    (measurement,) = run.measurements
    validate_measurement(measurement)
    assert measurement["test_keys"]["control"] == {}
    assert measurement["test_keys"]["control_failure"].startswith("x_control_malformed")
    assert run.verdicts[0].verdict == "inconclusive"


def test_own_address_echoed_by_a_server_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    # A documentation address stands in for the user's public one (no global address exists on
    # loopback); the server echoes it the way "what is my IP" pages and some blockpages do.
    own = "198.51.100.7"
    monkeypatch.setattr("reachwatch.probe._run.own_addresses", lambda _local: [own])

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_read(reader)
        body = f"<title>Your address is {own}</title> not 198.51.100.70".encode()
        writer.write(
            f"HTTP/1.1 200 OK\r\nX-Client-Ip: {own}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    async def scenario() -> ProbeRun:
        async with tcp_server(echo) as port:
            options = ProbeOptions(
                system_resolver=False, doh_url=None, quic=False, throughput=False
            )
            return await probe([Target(f"http://127.0.0.1:{port}/")], options)

    run = asyncio.run(asyncio.wait_for(scenario(), 30))
    (measurement,) = run.measurements
    validate_measurement(measurement)
    text = orjson.dumps(measurement).decode()
    assert own not in text.replace("198.51.100.70", "")
    (request,) = measurement["test_keys"]["requests"]
    assert request["response"]["headers"]["X-Client-Ip"] == "[scrubbed]"
    assert request["response"]["x_title"] == "Your address is [scrubbed]"
    assert "not 198.51.100.70" in request["response"]["body"]


def test_a_long_list_of_targets_never_floods_the_control() -> None:
    # A control turns away requests that wait too long for one of its slots (HTTP 503). The
    # probe asks it no more than control_concurrency at once, so every target gets an answer.
    async def slow_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_read(reader)
        await asyncio.sleep(0.3)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        await writer.drain()

    limits = Limits(max_concurrent_requests=2, queue_wait=0.2)

    async def scenario() -> ProbeRun:
        async with (
            tcp_server(slow_page) as port,
            ControlServer("127.0.0.1", 0, allow_private=True, limits=limits) as control,
        ):
            options = ProbeOptions(
                control_url=control.url,
                control_concurrency=2,
                system_resolver=False,
                doh_url=None,
                quic=False,
                throughput=False,
            )
            targets = [Target(f"http://127.0.0.1:{port}/{n}") for n in range(6)]
            return await probe(targets, options)

    run = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert [m["test_keys"]["control_failure"] for m in run.measurements] == [None] * 6
    assert {v.verdict for v in run.verdicts} == {"accessible"}


def test_an_https_control_is_checked_with_the_given_trust_store(tmp_path: Path) -> None:
    # A control behind a certificate from a private CA (a lab's, an organisation's) is usable
    # with --ca-file: the check before the run trusts what the run itself trusts.
    pki = LabPki(tmp_path)

    async def scenario() -> tuple[str | None, str | None]:
        context = pki.server_context(["127.0.0.1"])
        async with WebServer({"*": Page("control")}, ssl_context=context) as web:
            url = f"https://127.0.0.1:{web.port}/"
            return await check_control(url), await check_control(url, ca_file=str(pki.ca_file))

    default_store, lab_store = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert default_store == "ssl_unknown_authority"
    assert lab_store is None


def test_redirect_to_an_international_host_follows_its_ascii_name() -> None:
    # The Location header carries raw UTF-8, as servers send it and browsers read it.
    resolved: list[str] = []

    async def scenario() -> list[dict[str, Any]]:
        async def site(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request_line = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")[0]
            if b"/final" in request_line:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            else:
                location = f"http://пример.рф:{port}/final".encode()
                writer.write(b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\n\r\n")
            await writer.drain()

        async def resolve(host: str) -> str:
            resolved.append(host)
            return "127.0.0.1"

        async with tcp_server(site) as port:
            return await steps.http_fetch(
                f"http://x.com:{port}/",
                address="127.0.0.1",
                timeout=TIMEOUT,
                ssl_context=steps.make_ssl_context(),
                resolve=resolve,
            )

    entries = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert resolved == ["xn--e1afmkfd.xn--p1ai"]
    assert [e["response"]["code"] for e in entries] == [200, 302]
    assert entries[0]["request"]["url"].startswith("http://xn--e1afmkfd.xn--p1ai:")
    assert entries[0]["failure"] is None


def test_a_control_that_stops_answering_is_not_waited_on_for_every_target() -> None:
    # The control takes requests and never answers. Those in flight time out; the rest of the
    # run does not queue up behind it for another control_timeout each.
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async def scenario() -> ProbeRun:
        async with tcp_server(silent) as port:
            options = ProbeOptions(
                control_url=f"http://127.0.0.1:{port}/",
                control_concurrency=2,
                control_timeout=0.5,
                system_resolver=False,
                doh_url=None,
                quic=False,
                connect_timeout=TIMEOUT,
            )
            targets = [Target(f"http://127.0.0.1:9/{n}") for n in range(6)]
            return await probe(targets, options)

    run = asyncio.run(asyncio.wait_for(scenario(), 30))
    failures = [m["test_keys"]["control_failure"] for m in run.measurements]
    timed_out = [f for f in failures if f.endswith("did not answer in 0.5s")]
    skipped = [f for f in failures if f.endswith("(not asked again)")]
    assert (len(timed_out), len(skipped)) == (2, 4), failures
    assert {v.verdict for v in run.verdicts} == {"inconclusive"}


def test_broken_ipv6_beside_working_ipv4_is_never_tcp_blocking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The routing table says IPv6 works, but every IPv6 connect fails (nothing listens on ::1)
    # while IPv4 to the same host succeeds, and the control reaches both: a broken IPv6 path
    # on the probe's side, not a censor.
    monkeypatch.setattr("reachwatch.probe._run.ipv6_capable", lambda: True)

    async def page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _request_read(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if b"content-length" in line.lower()
        )
        endpoints = orjson.loads(await reader.readexactly(length))["tcp_connect"]
        answer = orjson.dumps(
            {
                "dns": {"addrs": ["127.0.0.1", "::1"], "failure": None},
                "tcp_connect": {ep: {"status": True, "failure": None} for ep in endpoints},
                "http_request": {"status_code": 200, "body_length": 2, "title": "",
                                 "headers": {}, "failure": None},
                "ip_info": {},
            }
        )  # fmt: skip
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer)
        await writer.drain()

    async def scenario() -> ProbeRun:
        zone = {"site.test": ["127.0.0.1", "::1"]}
        async with (
            tcp_server(page) as port,
            tcp_server(control) as control_port,
            DnsServer(zone) as dns_server,
        ):
            options = ProbeOptions(
                control_url=f"http://127.0.0.1:{control_port}/",
                resolver=dns_server.address,
                system_resolver=False,
                doh_url=None,
                quic=False,
                throughput=False,
            )
            return await probe([Target(f"http://site.test:{port}/")], options)

    run = asyncio.run(asyncio.wait_for(scenario(), 30))
    (measurement,) = run.measurements
    validate_measurement(measurement)
    keys = measurement["test_keys"]
    assert [t["status"]["success"] for t in keys["tcp_connect"]] == [True, False]
    assert keys["x_ipv6_capable"] is False
    assert run.verdicts[0].verdict == "accessible"
