"""The control measuring real loopback servers: DNS, TCP, TLS, HTTP, QUIC and throughput."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import orjson

from reachwatch.control import ControlServer, Limits, query_control
from reachwatch.control._config import ControlConfig
from reachwatch.control._measure import Measurement
from reachwatch.control._request import parse_request
from reachwatch.control._safety import AddressPolicy, IPAddress
from reachwatch.lab.servers import WebServer

LabFactory = Callable[[], AbstractAsyncContextManager[Any]]
PAGE_TITLE = "Site under test"


def _control(lab: Any, **kwargs: Any) -> ControlServer:
    kwargs.setdefault("allow_private", True)
    return ControlServer(
        "127.0.0.1", 0, resolver=("127.0.0.1", lab.dns_port), ca_file=str(lab.pki.ca_file), **kwargs
    )


def _strict_control(lab: Any) -> ControlServer:
    # Only the address policy stands in the way: the lab's port counts as a web port.
    return _control(lab, allow_private=False, ports=[lab.web_port])


def _assert_nothing_sent_to_targets(log: list[tuple[str, Any]], web_port: int) -> None:
    # What remains is the test's POST to the control, the control's DNS query and the lab
    # resolver's replies (it runs in this process too): loopback, never the target's port.
    assert log, "the audit hook saw nothing at all"
    for event, (host, port, *_) in log:
        assert host == "127.0.0.1", (event, host, port)
        assert port != web_port, (event, host, port)


def test_reachable_https_site_has_the_full_answer(lab: LabFactory) -> None:
    async def main() -> dict[str, Any]:
        async with lab() as site, _control(site) as control:
            endpoint = f"127.0.0.1:{site.web_port}"
            answer = await query_control(
                control.url, target_url=site.url("site.test"), addresses=[endpoint]
            )
            return {"answer": answer, "endpoint": endpoint, "url": site.url("site.test")}

    out = asyncio.run(main())
    answer, endpoint = out["answer"], out["endpoint"]
    assert answer["dns"] == {"failure": None, "addrs": ["127.0.0.1"]}
    assert answer["tcp_connect"] == {endpoint: {"status": True, "failure": None}}
    assert answer["tls_handshake"] == {
        endpoint: {"server_name": "site.test", "status": True, "failure": None}
    }
    assert answer["quic_handshake"][endpoint]["status"] is True
    assert answer["quic_handshake"][endpoint]["alpn"] == "h3"
    http = answer["http_request"]
    assert (http["status_code"], http["failure"], http["title"]) == (200, None, PAGE_TITLE)
    assert http["body_length"] > 200_000
    assert http["headers"]["Content-Type"].startswith("text/html")
    # Given by the probe (1), resolved by the control (2), a bogon (4), valid for the domain (8).
    assert answer["ip_info"] == {"127.0.0.1": {"asn": 0, "flags": 15}}
    sample = answer["x_throughput"]
    assert sample["failure"] is None
    assert sample["url"] == out["url"]
    assert sample["bytes"] > 200_000
    assert sample["seconds"] > 0
    assert sample["samples"][-1][1] == sample["bytes"]


def test_target_that_refuses_connections(lab: LabFactory) -> None:
    async def main() -> dict[str, Any]:
        async with lab() as site, _control(site) as control:
            return await query_control(
                control.url,
                target_url=site.url("site.test", port=site.closed_port),
                addresses=[f"127.0.0.1:{site.closed_port}"],
            )

    answer = asyncio.run(main())
    (entry,) = answer["tcp_connect"].values()
    assert entry == {"status": False, "failure": "connection_refused"}
    assert answer["tls_handshake"] == {}  # no handshake without a connection
    assert answer["http_request"]["failure"] == "connection_refused"
    assert answer["http_request"]["status_code"] == -1
    assert answer["http_request"]["body_length"] == -1
    assert answer["x_throughput"]["failure"] == "connection_refused"
    assert answer["ip_info"]["127.0.0.1"]["flags"] == 1 | 2 | 4  # not valid for the domain


def test_redirects_are_followed_to_the_final_page(lab: LabFactory) -> None:
    async def main() -> dict[str, Any]:
        async with lab() as site, _control(site) as control:
            return await query_control(
                control.url, target_url=site.url("moved.test"), addresses=[], quic=False
            )

    answer = asyncio.run(main())
    assert answer["http_request"]["status_code"] == 200
    assert answer["http_request"]["title"] == PAGE_TITLE
    assert answer["quic_handshake"] == {}
    assert answer["x_throughput"]["url"].startswith("https://site.test:")


def test_non_public_addresses_are_refused_without_a_packet(
    lab: LabFactory, connect_log: list[tuple[str, Any]]
) -> None:
    async def main() -> tuple[dict[str, Any], int]:
        async with lab() as site, _strict_control(site) as control:
            p = site.web_port
            given = [
                f"127.0.0.1:{p}",
                f"10.1.2.3:{p}",
                f"198.18.0.1:{p}",
                f"[::1]:{p}",
                f"[::ffff:127.0.0.1]:{p}",
            ]
            answer = await query_control(
                control.url, target_url=site.url("site.test"), addresses=given
            )
            return answer, site.web_port

    answer, web_port = asyncio.run(main())
    assert len(answer["tcp_connect"]) == 5
    for entry in answer["tcp_connect"].values():
        assert entry["status"] is False
        assert entry["failure"] == "x_refused_address"
    reasons = {
        key.rsplit(":", 1)[0]: e["x_refused_reason"] for key, e in answer["tcp_connect"].items()
    }
    assert reasons == {
        "127.0.0.1": "loopback",
        "10.1.2.3": "private",
        "198.18.0.1": "benchmark",
        "[::1]": "loopback",
        "[::ffff:127.0.0.1]": "loopback",
    }
    assert all(e["failure"] == "x_refused_address" for e in answer["tls_handshake"].values())
    assert all(e["failure"] == "x_refused_address" for e in answer["quic_handshake"].values())
    assert answer["http_request"]["failure"] == "x_refused_address"
    assert answer["x_throughput"]["failure"] == "x_refused_address"
    _assert_nothing_sent_to_targets(connect_log, web_port)


def test_addresses_from_the_resolver_are_refused_too(
    lab: LabFactory, connect_log: list[tuple[str, Any]]
) -> None:
    async def main() -> tuple[dict[str, Any], int]:
        async with lab() as site, _strict_control(site) as control:
            answer = await query_control(
                control.url, target_url=site.url("private.test"), addresses=[]
            )
            return answer, site.web_port

    answer, web_port = asyncio.run(main())
    assert answer["dns"] == {"failure": None, "addrs": ["10.0.0.7"]}
    (entry,) = answer["tcp_connect"].values()
    assert entry["failure"] == "x_refused_address"
    assert answer["ip_info"] == {"10.0.0.7": {"asn": 0, "flags": 2 | 4}}
    _assert_nothing_sent_to_targets(connect_log, web_port)


class _RefuseOne(AddressPolicy):
    """A policy that lets the lab through except for one address, to test redirects."""

    def __init__(self, refused: str) -> None:
        super().__init__(allow_private=True)
        self.refused = ipaddress.ip_address(refused)

    def refuse(self, ip: IPAddress, port: int) -> str | None:
        return "x_refused_address" if ip == self.refused else None


def test_redirect_into_a_refused_address_is_not_followed(
    lab: LabFactory, connect_log: list[tuple[str, Any]]
) -> None:
    async def main() -> dict[str, Any]:
        async with lab() as site:
            # away.test (127.0.0.1) redirects to inside.test (127.0.0.2), which is refused.
            request = parse_request(
                {"http_request": site.url("away.test"), "x_throughput": True}, max_endpoints=4
            )
            config = ControlConfig(
                resolver=("127.0.0.1", site.dns_port), ca_file=str(site.pki.ca_file)
            )
            measurement = Measurement(request, config)
            measurement.policy = _RefuseOne("127.0.0.2")
            return await measurement.run()

    answer = asyncio.run(main())
    assert answer["tcp_connect"][next(iter(answer["tcp_connect"]))]["status"] is True
    assert answer["http_request"]["failure"] == "x_refused_address"
    assert answer["http_request"]["status_code"] == -1
    assert answer["x_throughput"]["failure"] == "x_refused_address"
    assert any(addr[0] == "127.0.0.1" for _, addr in connect_log)  # the first hop was fetched
    assert all(addr[0] != "127.0.0.2" for _, addr in connect_log)


def test_time_budget_and_busy_control(lab: LabFactory) -> None:
    limits = Limits(budget=1.0, connect_timeout=5.0, max_concurrent_requests=1, queue_wait=0.2)

    async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> int:
        async with session.post(url, data=body) as response:
            await response.read()
            return response.status

    async def main() -> list[int]:
        async with lab() as site, _control(site, limits=limits) as control:
            # A server that accepts and never answers: the HTTP step runs until the budget ends.
            stalled = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
            port = stalled.sockets[0].getsockname()[1]
            body = orjson.dumps({"http_request": f"http://127.0.0.1:{port}/"})
            async with stalled, aiohttp.ClientSession() as session:
                statuses = await asyncio.gather(
                    post(session, control.url, body), post(session, control.url, body)
                )
            return sorted(statuses)

    # The second request found the only slot taken for longer than it may wait.
    assert asyncio.run(main()) == [200, 503]


def test_budget_bounds_the_whole_request(lab: LabFactory) -> None:
    # One step at a time and every TLS handshake stalls: the first handshake uses up the
    # budget; the others are reported as not run, not as timeouts of the target.
    limits = Limits(budget=1.0, max_parallel_steps=1)

    async def main() -> tuple[dict[str, Any], list[str]]:
        async with lab() as site:
            context = site.pki.server_context(["site.test"])
            async with (
                WebServer({}, ssl_context=context, stall_all=True) as a,
                WebServer({}, ssl_context=context, stall_all=True) as b,
                WebServer({}, ssl_context=context, stall_all=True) as c,
                _control(site, limits=limits) as control,
            ):
                endpoints = [f"127.0.0.1:{server.port}" for server in (a, b, c)]
                answer = await query_control(
                    control.url,
                    target_url=f"https://127.0.0.1:{a.port}/",
                    addresses=endpoints,
                    quic=False,
                )
                return answer, endpoints

    answer, endpoints = asyncio.run(main())
    assert all(answer["tcp_connect"][e]["status"] for e in endpoints)
    assert sorted(answer["tls_handshake"][e]["failure"] for e in endpoints) == [
        "generic_timeout_error",
        "x_control_budget_exceeded",
        "x_control_budget_exceeded",
    ]
    assert answer["http_request"]["failure"] == "generic_timeout_error"
    # No response came, so no download was attempted: the sample carries the reason.
    assert answer["x_throughput"]["failure"] == "generic_timeout_error"
    assert answer["x_throughput"]["bytes"] == 0


def test_unknown_name(lab: LabFactory) -> None:
    async def main() -> dict[str, Any]:
        async with lab() as site, _control(site) as control:
            return await query_control(
                control.url, target_url=site.url("missing.test"), addresses=[], quic=False
            )

    answer = asyncio.run(main())
    assert answer["dns"] == {"failure": "dns_nxdomain_error", "addrs": []}
    assert answer["tcp_connect"] == {}
    assert answer["http_request"]["failure"] == "dns_nxdomain_error"
    assert answer["x_throughput"]["failure"] == "dns_nxdomain_error"
    assert answer["ip_info"] == {}


def test_redirect_to_an_unparsable_location_ends_the_chain() -> None:
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def main() -> dict[str, Any]:
        server = await asyncio.start_server(redirect, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            request = parse_request(
                {"http_request": f"http://127.0.0.1:{port}/", "x_throughput": False},
                max_endpoints=4,
            )
            return await Measurement(request, ControlConfig(allow_private=True)).run()

    answer = asyncio.run(asyncio.wait_for(main(), 30))
    # The same words as the probe uses for the same page, so the two compare.
    assert answer["http_request"]["failure"] == "unknown_failure: failed to parse Location header"
