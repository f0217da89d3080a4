"""Certificate failures by their cause (x_cert_error): validity dates are the probe's clock,
an unknown authority or a wrong name is an interceptor."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import RULES, classify

IP = "10.0.2.10"
ANSWERED = "203.0.114.9"  # public space, not the control's answer


def failed_handshake(build: Any, failure: str, cert_error: str | None) -> Any:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP).control_tls(IP)
    m.tls(IP, failure).tls(IP, None, decoy=True)
    real = m.tk["tls_handshakes"][0]
    if cert_error is not None:
        real["x_cert_error"] = cert_error
    return m


@pytest.mark.parametrize("cert_error", ["expired", "not_yet_valid"])
def test_dates_only_failure_while_the_control_works_is_the_probes_clock(
    build: Any, cert_error: str
) -> None:
    m = failed_handshake(build, "ssl_invalid_certificate", cert_error)
    c = classify(m.build())
    tls = c.layers["tls"]
    assert (tls.verdict, tls.rule) == ("inconclusive", "tls.certificate_dates_probe_clock")
    assert c.verdict != "blocked"
    assert c.technique is None
    blocked_weight = RULES["tls.certificate_dates_probe_clock"][1][0]
    assert blocked_weight == 0.0


@pytest.mark.parametrize(
    ("failure", "cert_error"),
    [
        ("ssl_unknown_authority", "unknown_authority"),
        ("ssl_invalid_hostname", "hostname_mismatch"),
        ("ssl_invalid_certificate", "invalid"),
    ],
)
def test_other_certificate_failures_while_the_control_works_stay_mitm(
    build: Any, failure: str, cert_error: str
) -> None:
    m = failed_handshake(build, failure, cert_error)
    c = classify(m.build())
    assert (c.verdict, c.technique) == ("blocked", "tls.mitm")
    assert c.layers["tls"].rule == "tls.certificate_invalid_probe_only"


def test_ooni_certificate_failure_without_a_cause_keeps_its_mitm_reading(build: Any) -> None:
    # OONI's ssl_invalid_certificate may be dates or anything else: no x_cert_error, no change.
    m = failed_handshake(build, "ssl_invalid_certificate", None)
    c = classify(m.build())
    assert (c.verdict, c.technique) == ("blocked", "tls.mitm")
    assert c.layers["tls"].rule == "tls.certificate_invalid_probe_only"


def test_dates_only_failure_for_the_control_too_is_down(build: Any) -> None:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP)
    m.tls(IP, "ssl_invalid_certificate")
    m.tk["tls_handshakes"][0]["x_cert_error"] = "expired"
    m.control_tls(IP, ok=False, failure="ssl_invalid_certificate")
    assert classify(m.build()).layers["tls"].rule == "tls.fails_for_control_too"


@pytest.mark.parametrize(
    ("cert_error", "contradicted"), [("expired", False), ("unknown_authority", True)]
)
def test_only_a_wrong_certificate_contradicts_a_differing_answer(
    build: Any, cert_error: str, contradicted: bool
) -> None:
    m = build().dns([ANSWERED]).control_dns([IP]).tcp(ANSWERED).control_tcp(IP).control_tls(IP)
    m.tls(ANSWERED, "ssl_invalid_certificate")
    m.tk["tls_handshakes"][0]["x_cert_error"] = cert_error
    dns = classify(m.build()).layers["dns"]
    assert (dns.verdict == "blocked") is contradicted
