"""Certificates outside their validity window, as a device with a wrong clock sees every one:
the handshake records why verification failed (x_cert_error), and a probe that alone sees an
expired certificate is not judged intercepted."""

from __future__ import annotations

import asyncio
import datetime
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from reachwatch.classify import classify
from reachwatch.control import ControlServer, Limits
from reachwatch.formats.reachwatch import validate_measurement
from reachwatch.lab.servers import DnsServer, LabPki, Page, WebServer
from reachwatch.probe import ProbeOptions, Target, probe, steps

T = TypeVar("T")
NOW = datetime.datetime.now(datetime.UTC)
LAST_YEAR = (NOW - datetime.timedelta(days=400), NOW - datetime.timedelta(days=370))
NEXT_YEAR = (NOW + datetime.timedelta(days=370), NOW + datetime.timedelta(days=400))


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(scenario(), 60))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki(tmp_path_factory.mktemp("dates-pki"))


def test_handshake_records_why_the_certificate_failed(pki: LabPki) -> None:
    async def scenario() -> dict[str, dict[str, Any]]:
        expired_ctx = pki.server_context(
            ["x.com"], valid_from=LAST_YEAR[0], valid_until=LAST_YEAR[1]
        )
        future_ctx = pki.server_context(
            ["x.com"], valid_from=NEXT_YEAR[0], valid_until=NEXT_YEAR[1]
        )
        async with (
            WebServer({"*": Page("X")}, ssl_context=expired_ctx) as expired,
            WebServer({"*": Page("X")}, ssl_context=future_ctx) as future,
            WebServer({"*": Page("X")}, ssl_context=pki.server_context(["x.com"])) as valid,
            WebServer(
                {"*": Page("X")}, ssl_context=pki.server_context(["x.com"], untrusted=True)
            ) as mitm,
            WebServer(
                {"*": Page("X")},
                ssl_context=pki.server_context(
                    ["x.com"], untrusted=True, valid_from=LAST_YEAR[0], valid_until=LAST_YEAR[1]
                ),
            ) as expired_mitm,
        ):
            ctx = steps.make_ssl_context(str(pki.ca_file))
            entries = {}
            for name, port, sni in (
                ("expired", expired.port, "x.com"),
                ("future", future.port, "x.com"),
                ("valid", valid.port, "x.com"),
                ("hostname", valid.port, "api.x.com"),
                ("authority", mitm.port, "x.com"),
                # An interceptor's certificate reads as its authority or name, even out of date.
                ("expired_authority", expired_mitm.port, "x.com"),
                ("expired_hostname", expired.port, "api.x.com"),
            ):
                entries[name] = await steps.tls_handshake(
                    "127.0.0.1", port, sni, timeout=3, ssl_context=ctx
                )
            return entries

    entries = run(scenario)
    seen = {name: (e["failure"], e["x_cert_error"]) for name, e in entries.items()}
    assert seen == {
        "expired": ("ssl_invalid_certificate", "expired"),
        "future": ("ssl_invalid_certificate", "not_yet_valid"),
        "valid": (None, None),
        "hostname": ("ssl_invalid_hostname", "hostname_mismatch"),
        "authority": ("ssl_unknown_authority", "unknown_authority"),
        "expired_authority": ("ssl_unknown_authority", "unknown_authority"),
        "expired_hostname": ("ssl_invalid_hostname", "hostname_mismatch"),
    }


async def _route(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    backends: dict[str, tuple[str, int]],
    default: tuple[str, int],
) -> None:
    """Relay a connection to the backend chosen by the client's address."""
    client = writer.get_extra_info("peername")[0]
    up_reader, up_writer = await asyncio.open_connection(*backends.get(client, default))

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(16 * 1024):
                dst.write(data)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def test_probe_alone_seeing_an_expired_certificate_is_inconclusive(
    pki: LabPki, loopback_only: None
) -> None:
    """The probe's connections reach a server whose certificate expired (what a slow clock
    makes of a valid one); the control's reach the same name with a valid certificate."""
    block = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}"
    front, probe_source = f"{block}.10", f"{block}.250"
    expired_ctx = pki.server_context(["x.com"], valid_from=LAST_YEAR[0], valid_until=LAST_YEAR[1])

    async def scenario() -> dict[str, Any]:
        async with (
            WebServer({"*": Page("X")}, host=f"{block}.100", ssl_context=expired_ctx) as old,
            WebServer(
                {"*": Page("X")}, host=f"{block}.101", ssl_context=pki.server_context(["x.com"])
            ) as valid,
            DnsServer({"x.com": [front]}, host=f"{block}.2") as dns,
        ):
            # The same address and port for both; which certificate depends on who asks.
            backends = {probe_source: old.address}
            router = await asyncio.start_server(
                lambda r, w: _route(r, w, backends, valid.address), front, 0
            )
            port = router.sockets[0].getsockname()[1]
            try:
                control = ControlServer(
                    "127.0.0.1",
                    0,
                    resolver=dns.address,
                    ca_file=str(pki.ca_file),
                    allow_private=True,
                    limits=Limits(throughput_seconds=0.5),
                )
                async with control as running:
                    options = ProbeOptions(
                        control_url=running.url,
                        resolver=dns.address,
                        doh_url=None,
                        system_resolver=False,
                        ca_file=str(pki.ca_file),
                        local_address=probe_source,
                        quic=False,
                        throughput=False,
                        dns_timeout=1.0,
                        connect_timeout=1.0,
                        tls_timeout=1.0,
                        http_timeout=3.0,
                        control_timeout=20.0,
                    )
                    result = await probe([Target(f"https://x.com:{port}/", "x")], options)
            finally:
                router.close()
            [measurement] = result.measurements
            return measurement

    measurement = run(scenario)
    validate_measurement(measurement)
    [handshake] = [h for h in measurement["test_keys"]["tls_handshakes"] if not h["x_decoy_sni"]]
    assert handshake["failure"] == "ssl_invalid_certificate"
    assert handshake["x_cert_error"] == "expired"
    control_tls = measurement["test_keys"]["control"]["tls_handshake"]
    assert control_tls and all(t["status"] for t in control_tls.values())
    verdict = classify(measurement)
    assert verdict.layers["tls"].rule == "tls.certificate_dates_probe_clock"
    assert verdict.verdict == "inconclusive"
    assert verdict.technique is None
