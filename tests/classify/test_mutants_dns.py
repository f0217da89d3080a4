"""Lookups that gave no address: which failure speaks for a name's queries (an A query's
before an AAAA query's), and that an empty AAAA answer alone says nothing. Each test pins a
behaviour mutation testing found no test of tests/classify checking."""

from __future__ import annotations

from typing import Any

from reachwatch.classify import classify

IP = "104.244.42.1"


def _dns(m: Any) -> tuple[str, str | None, str | None, str]:
    c = classify(m.build())
    (o,) = [o for o in c.observations if o.layer == "dns"]
    return o.rule, o.technique, o.failure, o.host


def test_the_a_querys_failure_speaks_before_the_aaaa_querys(build: Any) -> None:
    m = build().control_dns([IP])
    m.dns([], failure="dns_nxdomain_error", query_type="AAAA")
    m.dns([], failure="generic_timeout_error", query_type="A")
    assert _dns(m) == ("dns.timeout_probe_only", "dns.timeout", "generic_timeout_error", "x.com")


def test_the_first_failure_speaks_when_every_failing_query_is_aaaa_or_a(build: Any) -> None:
    m = build().control_dns([IP])
    m.dns([], failure="dns_nxdomain_error", query_type="A")
    m.dns([], failure="generic_timeout_error", query_type="A")
    assert _dns(m)[:3] == ("dns.nxdomain_probe_only", "dns.nxdomain", "dns_nxdomain_error")


def test_an_aaaa_query_failing_alone_says_nothing(build: Any) -> None:
    m = build().control_dns([IP]).dns([], failure="dns_no_answer", query_type="AAAA")
    assert "dns" not in classify(m.build()).layers


def test_a_failing_aaaa_query_beside_a_failing_a_query_still_counts(build: Any) -> None:
    m = build().control_dns([IP])
    m.dns([], failure="dns_nxdomain_error", query_type="AAAA")
    m.dns([], failure="dns_nxdomain_error", query_type="A")
    assert _dns(m)[:2] == ("dns.nxdomain_probe_only", "dns.nxdomain")
