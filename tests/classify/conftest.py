"""A builder for small hand-written measurements in reachwatch's probe format."""

from __future__ import annotations

from typing import Any

import pytest

import reachwatch.classify as classify_package
from reachwatch.classify import Classified

# Every rule id a test of this folder made the classifier fire (test_rule_table.py checks that
# each rule in RULES is among them). The public entry points are wrapped once, before any test
# module imports them; the wrappers only record, and return what they are given.
FIRED: set[str] = set()
# Property-based tests fire whatever their random records happen to reach: not counted, so
# that every rule has a test that fires it every time.
_COUNTING = [True]


def _recording(judge: Any) -> Any:
    def recorded(*args: Any, **kwargs: Any) -> Classified:
        result: Classified = judge(*args, **kwargs)
        if _COUNTING[0]:
            FIRED.update(o.rule for o in result.observations)
        return result

    recorded.__doc__ = judge.__doc__
    return recorded


if not hasattr(classify_package.classify, "__wrapped_for_rules__"):
    for _name in ("classify", "classify_censoredplanet"):
        _wrapper = _recording(getattr(classify_package, _name))
        _wrapper.__wrapped_for_rules__ = True
        setattr(classify_package, _name, _wrapper)

SURF_SAFELY = (
    "<html><head><title>Surf Safely</title></head><body>"
    "This website is prohibited for viewership from within Pakistan.</body></html>"
)
REAL_PAGE = "<html><head><title>X. It's what's happening</title></head><body>" + "x" * 4000


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class Measurement:
    """One target measured by the probe, with the control's answer, built step by step."""

    def __init__(self, url: str = "https://x.com/", *, control: bool = True) -> None:
        self.url = url
        self.host = url.split("/")[2]
        self.tk: dict[str, Any] = {
            "queries": [],
            "tcp_connect": [],
            "tls_handshakes": [],
            "requests": [],
            "x_quic_handshakes": [],
            "x_ipv6_capable": True,
            "control_failure": None if control else "connection_refused",
            "control": {
                "dns": {"failure": None, "addrs": []},
                "tcp_connect": {},
                "tls_handshake": {},
                "quic_handshake": {},
                "http_request": {
                    "failure": None,
                    "status_code": 200,
                    "body_length": len(REAL_PAGE),
                    "title": "X. It's what's happening",
                    "headers": {},
                },
                "ip_info": {},
            }
            if control
            else None,
        }

    # --- probe side ---
    def dns(
        self,
        addrs: list[str],
        *,
        engine: str = "getaddrinfo",
        failure: str | None = None,
        host: str | None = None,
        query_type: str = "A",
    ) -> Measurement:
        answers = [
            {"answer_type": "AAAA" if ":" in a else "A", ("ipv6" if ":" in a else "ipv4"): a}
            for a in addrs
        ]
        self.tk["queries"].append(
            {
                "engine": engine,
                "resolver_address": "https://dns.example/dns-query" if engine == "doh" else "",
                "hostname": host or self.host,
                "query_type": query_type,
                "failure": failure,
                "answers": answers,
            }
        )
        return self

    def tcp(self, ip: str, port: int = 443, failure: str | None = None) -> Measurement:
        self.tk["tcp_connect"].append(
            {
                "ip": ip,
                "port": port,
                "status": {"success": failure is None, "failure": failure, "blocked": None},
            }
        )
        return self

    def tls(
        self,
        ip: str,
        failure: str | None = None,
        *,
        decoy: bool = False,
        port: int = 443,
        sni: str | None = None,
    ) -> Measurement:
        self.tk["tls_handshakes"].append(
            {
                "address": _endpoint(ip, port),
                "server_name": "decoy.example" if decoy else (sni or self.host),
                "failure": failure,
                "no_tls_verify": False,
                "x_decoy_sni": decoy,
            }
        )
        return self

    def http(
        self,
        *,
        url: str | None = None,
        status: int = 200,
        body: str = REAL_PAGE,
        failure: str | None = None,
        address: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Measurement:
        self.tk["requests"].append(
            {
                "address": address,
                "failure": failure,
                "request": {"method": "GET", "url": url or self.url, "headers": {}},
                "response": {
                    "code": status if failure is None else 0,
                    "headers": headers or {},
                    "body": body if failure is None else None,
                    "body_is_truncated": False,
                },
            }
        )
        return self

    def quic(self, ip: str, failure: str | None = None) -> Measurement:
        self.tk["x_quic_handshakes"].append(
            {"address": _endpoint(ip, 443), "server_name": self.host, "failure": failure}
        )
        return self

    def throughput(self, samples: list[list[float]], *, control_rate: float) -> Measurement:
        """Probe samples [[t, cumulative bytes]...]; the control downloads at control_rate."""
        t, size = samples[-1]
        self.tk["x_throughput"] = _throughput(samples)
        seconds = 2.0
        self.tk["control"]["x_throughput"] = _throughput(
            [[i * seconds / 4, control_rate * i * seconds / 4] for i in range(5)]
        )
        assert t > 0 and size >= 0
        return self

    # --- control side ---
    def control_dns(self, addrs: list[str], failure: str | None = None) -> Measurement:
        self.tk["control"]["dns"] = {"failure": failure, "addrs": addrs}
        return self

    def control_tcp(self, ip: str, ok: bool = True, port: int = 443) -> Measurement:
        failure = None if ok else "generic_timeout_error"
        self.tk["control"]["tcp_connect"][_endpoint(ip, port)] = {
            "status": ok,
            "failure": failure,
        }
        return self

    def control_tls(self, ip: str, ok: bool = True, failure: str | None = None) -> Measurement:
        self.tk["control"]["tls_handshake"][_endpoint(ip, 443)] = {
            "server_name": self.host,
            "status": ok,
            "failure": None if ok else (failure or "connection_reset"),
        }
        return self

    def control_quic(self, ip: str, ok: bool = True) -> Measurement:
        self.tk["control"]["quic_handshake"][_endpoint(ip, 443)] = {
            "status": ok,
            "failure": None if ok else "generic_timeout_error",
        }
        return self

    def control_http(self, *, failure: str | None = None, status: int = 200) -> Measurement:
        self.tk["control"]["http_request"].update(
            {"failure": failure, "status_code": status if failure is None else -1}
        )
        return self

    def asn(self, ip: str, asn: int) -> Measurement:
        self.tk["control"]["ip_info"][ip] = {"asn": asn, "flags": 0}
        return self

    def set(self, **keys: Any) -> Measurement:
        self.tk.update(keys)
        return self

    def build(self) -> dict[str, Any]:
        return {
            "measurement_start_time": "2024-02-18 10:00:00",
            "test_start_time": "2024-02-18 10:00:00",
            "probe_cc": "PK",
            "probe_asn": "AS17557",
            "probe_ip": "127.0.0.1",
            "input": self.url,
            "test_name": "web_connectivity",
            "test_version": "0.5.0",
            "software_name": "reachwatch",
            "software_version": "0.1.0",
            "data_format_version": "0.2.0",
            "annotations": {},
            "test_keys": self.tk,
        }


def _throughput(samples: list[list[float]]) -> dict[str, Any]:
    t, size = samples[-1]
    return {
        "url": "https://x.com/",
        "address": "10.0.2.10:443",
        "bytes": size,
        "seconds": t,
        "samples": samples,
        "failure": None,
    }


def healthy(url: str = "https://x.com/", ip: str = "10.0.2.10") -> Measurement:
    """Everything reachable: the probe and the control agree at every step."""
    m = Measurement(url)
    port = 443 if url.startswith("https") else 80
    m.dns([ip]).dns([ip], engine="doh").control_dns([ip])
    m.tcp(ip, port).control_tcp(ip, port=port)
    if port == 443:
        m.tls(ip).control_tls(ip)
    m.http(address=_endpoint(ip, port))
    return m


@pytest.fixture
def build() -> type[Measurement]:
    return Measurement


@pytest.fixture(name="healthy")
def healthy_fixture() -> Any:
    """healthy(url=..., ip=...): a Measurement where everything works."""
    return healthy


@pytest.fixture
def surf_safely() -> str:
    """Pakistan's national blockpage, as served by the lab's blockpage server."""
    return SURF_SAFELY


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    _COUNTING[0] = not getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
    yield
    _COUNTING[0] = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The rule-fires check runs after every other test of the session."""
    last = [i for i in items if i.get_closest_marker("after_all_classify_tests")]
    items[:] = [i for i in items if i not in last] + last
