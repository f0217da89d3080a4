"""The app tests (whatsapp, telegram, signal, facebook_messenger): which of OONI's per-app
summary keys make a failure count as blocking, and the technique each failing step gets. Each
test pins a behaviour mutation testing found no test of tests/classify checking."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import classify

IP = "157.240.1.53"
NAME = "e1.whatsapp.net"


def _app(test_name: str, **keys: Any) -> Any:
    tk: dict[str, Any] = {
        "queries": [
            {
                "hostname": NAME,
                "engine": "system",
                "failure": None,
                "query_type": "A",
                "answers": [{"ipv4": IP}],
            }
        ],
        "tcp_connect": [],
        "tls_handshakes": [],
        "requests": [],
    }
    tk.update(keys)
    record = {
        "test_name": test_name,
        "input": None,
        "probe_cc": "PK",
        "probe_asn": "AS17557",
        "measurement_start_time": "2024-02-18 10:00:00",
        "test_keys": tk,
    }
    return classify(record)


def _tcp(failure: str | None) -> list[dict[str, Any]]:
    return [{"ip": IP, "port": 443, "status": {"success": failure is None, "failure": failure}}]


@pytest.mark.parametrize(
    ("test_name", "key", "says_blocked"),
    [
        ("whatsapp", "registration_server_status", "blocked"),
        ("whatsapp", "whatsapp_endpoints_status", "blocked"),
        ("whatsapp", "whatsapp_web_status", "blocked"),
        ("telegram", "telegram_web_status", "blocked"),
        ("telegram", "telegram_tcp_blocking", True),
        ("telegram", "telegram_http_blocking", True),
        ("signal", "signal_backend_status", "blocked"),
        ("facebook_messenger", "facebook_tcp_blocking", True),
        ("facebook_messenger", "facebook_dns_blocking", True),
    ],
)
def test_each_summary_key_of_the_app_makes_its_failures_blocking(
    test_name: str, key: str, says_blocked: Any
) -> None:
    c = _app(test_name, tcp_connect=_tcp("connection_reset"), **{key: says_blocked})
    assert (c.verdict, c.technique) == ("blocked", "tcp.reset")
    assert c.layers["tcp"].rule == "tcp.app_reports_blocked"
    (o,) = [o for o in c.observations if o.layer == "tcp"]
    assert (o.host, o.address, o.failure) == (NAME, f"{IP}:443", "connection_reset")
    # Any other value of the same key is not the app saying it was blocked.
    calm = "ok" if isinstance(says_blocked, str) else "true"
    c = _app(test_name, tcp_connect=_tcp("connection_reset"), **{key: calm})
    assert (c.verdict, c.layers["tcp"].rule) == ("inconclusive", "tcp.no_control")


@pytest.mark.parametrize(
    ("layer", "failure", "technique"),
    [
        ("tcp", "generic_timeout_error", "tcp.timeout"),
        ("tcp", "connection_refused", "tcp.reset"),
        ("tls", "generic_timeout_error", "tls.timeout"),
        ("tls", "ssl_invalid_certificate", "tls.mitm"),
        ("tls", "connection_reset", "tls.reset"),
        ("http", "generic_timeout_error", "http.timeout"),
        ("http", "connection_reset", "http.reset"),
    ],
)
def test_the_failing_step_names_the_technique(layer: str, failure: str, technique: str) -> None:
    # No lookup: a certificate failure after one would put the answer itself in doubt.
    keys: dict[str, Any] = {"tcp_connect": _tcp(None), "queries": []}
    if layer == "tcp":
        keys["tcp_connect"] = _tcp(failure)
    if layer in ("tls", "http"):
        tls_failure = failure if layer == "tls" else None
        keys["tls_handshakes"] = [
            {"address": f"{IP}:443", "server_name": NAME, "failure": tls_failure}
        ]
    if layer == "http":
        keys["requests"] = [
            {
                "failure": failure,
                "request": {"method": "GET", "url": f"https://{NAME}/", "headers": {}},
                "response": {"code": 0, "headers": {}, "body": None},
            }
        ]
    c = _app("whatsapp", whatsapp_web_status="blocked", **keys)
    assert c.verdict == "blocked"
    lv = c.layers[layer]
    assert (lv.verdict, lv.rule, lv.technique) == (
        "blocked",
        f"{layer}.app_reports_blocked",
        technique,
    )
    (o,) = [o for o in c.observations if o.layer == layer]
    assert o.failure == failure


def test_a_failure_that_is_not_the_networks_stays_unjudged_even_when_the_app_says_blocked() -> None:
    c = _app("whatsapp", tcp_connect=_tcp("unknown_failure: weird"), whatsapp_web_status="blocked")
    assert c.layers["tcp"].rule == "tcp.no_control"
    assert c.verdict != "blocked"


def test_every_step_of_an_app_is_judged_and_each_request_on_its_own() -> None:
    def fetch(url: str) -> dict[str, Any]:
        return {"failure": None, "request": {"method": "GET", "headers": {}, "url": url}}

    c = _app(
        "signal",
        tcp_connect=_tcp(None),
        tls_handshakes=[{"address": f"{IP}:443", "server_name": NAME, "failure": None}],
        requests=[
            dict(fetch(f"https://{NAME}/"), response={"code": 200, "body": "a", "headers": {}}),
            dict(fetch("https://other.example/"), response={"code": 200, "body": "b"}),
        ],
        signal_backend_status="ok",
    )
    assert set(c.layers) == {"dns", "tcp", "tls", "http"}
    assert sorted(o.host for o in c.observations if o.layer == "http") == [
        NAME,
        "other.example",
    ]
    assert c.verdict == "accessible"


def test_an_app_connection_is_named_by_the_handshake_at_its_address() -> None:
    c = _app(
        "whatsapp",
        queries=[],
        tcp_connect=_tcp("connection_reset"),
        tls_handshakes=[
            {
                "address": f"{IP}:443",
                "server_name": "decoy.example",
                "failure": None,
                "x_decoy_sni": True,
            },
            {"address": f"{IP}:443", "server_name": "web.whatsapp.com", "failure": None},
        ],
    )
    (o,) = [o for o in c.observations if o.layer == "tcp"]
    assert o.host == "web.whatsapp.com"
