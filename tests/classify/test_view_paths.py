"""The view reads usual entries without per-field checks; whatever an entry holds, that quick
path must give exactly what the checked path gives: the same normalised entry or the same
InvalidMeasurement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reachwatch.classify import InvalidMeasurement
from reachwatch.classify._view import (
    _checked_query,
    _checked_tcp,
    _checked_tls,
    _headers,
    _pairs,
    _query,
    _tcp,
    _tls,
)

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=False),
    st.sampled_from(["", "1.2.3.4", "::1", "x.com", "generic_timeout_error", "AAAA", "doh"]),
    st.text(max_size=8),
    st.lists(st.none() | st.integers() | st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.none() | st.integers(), max_size=2),
)
ANSWERS = st.one_of(
    VALUES,
    st.lists(
        st.one_of(
            VALUES,
            st.fixed_dictionaries(
                {}, optional={"ipv4": VALUES | st.just("8.8.4.4"), "ipv6": VALUES}
            ),
        ),
        max_size=3,
    ),
)
STATUS = st.one_of(
    VALUES,
    st.fixed_dictionaries(
        {}, optional={"success": VALUES, "failure": st.sampled_from(["", "eof_error"]) | VALUES}
    ),
)


def _outcome(read: Callable[[dict[str, Any]], Any], entry: dict[str, Any]) -> Any:
    try:
        return read(entry)
    except Exception as exc:  # the same error, whatever it is (a float port of inf: Overflow)
        return (type(exc).__name__, str(exc))


def _entries(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        _entries({"ip": VALUES, "port": VALUES, "status": STATUS}),
        st.fixed_dictionaries(
            {"ip": st.sampled_from(["1.2.3.4", "::1"]), "port": st.just(443), "status": STATUS}
        ),
    )
)
def test_tcp_entries_read_alike(entry: dict[str, Any]) -> None:
    assert _outcome(_tcp, entry) == _outcome(_checked_tcp, entry)


@settings(max_examples=400, deadline=None)
@given(
    _entries(
        {
            "hostname": VALUES,
            "engine": VALUES,
            "resolver_address": VALUES,
            "query_type": VALUES,
            "failure": VALUES,
            "answers": ANSWERS,
        }
    )
)
def test_dns_queries_read_alike(entry: dict[str, Any]) -> None:
    assert _outcome(_query, entry) == _outcome(_checked_query, entry)


@settings(max_examples=400, deadline=None)
@given(
    _entries(
        {
            "address": VALUES | st.just("[::1]:443"),
            "server_name": VALUES,
            "failure": VALUES,
            "x_decoy_sni": VALUES,
            "no_tls_verify": VALUES,
        }
    )
)
def test_tls_handshakes_read_alike(entry: dict[str, Any]) -> None:
    assert _outcome(_tls, entry) == _outcome(_checked_tls, entry)


def test_usual_entries_take_the_quick_path_and_keep_their_values() -> None:
    tcp = {"ip": "2001:db8::1", "port": 443, "status": {"success": False, "failure": ""}}
    assert _tcp(tcp) == _checked_tcp(tcp)
    assert _tcp(tcp).endpoint == "[2001:db8::1]:443" and _tcp(tcp).failure is None
    query = {"hostname": "X.com.", "engine": "", "answers": [{"ipv4": "1.2.3.4"}, {"ipv4": "x"}]}
    assert _query(query) == _checked_query(query)
    assert (_query(query).hostname, _query(query).engine, _query(query).addrs) == (
        "x.com",
        "system",
        ["1.2.3.4"],
    )


def test_header_values_of_other_types_are_still_converted() -> None:
    listed = {"headers_list": [["Location", "http://10.0.0.1/"], [1, {"data": "YQ=="}]]}
    assert _headers(listed) == {"location": "http://10.0.0.1/", "1": "a"}
    mapped = {"headers": {"Server": ["nginx", "x"], "X-N": None}}
    assert _headers(mapped) == {"server": "nginx", "x-n": ""}


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["1.2.3.4:443", "[::1]:80"]), STATUS, max_size=2))
def test_control_pairs_keep_their_checks(table: dict[str, Any]) -> None:
    try:
        got: Any = _pairs(table, "tcp_connect")
    except InvalidMeasurement as exc:
        got = str(exc)
    for key, entry in table.items():
        if not isinstance(entry, dict):
            assert got == f"control.tcp_connect[{key!r}] is not an object"
            return
        failure = entry.get("failure")
        if failure is not None and not isinstance(failure, str):
            assert isinstance(got, str) and "failure is" in got
            return
    assert isinstance(got, dict) and set(got) == set(table)
    for key, (ok, failure) in got.items():
        status, given_failure = table[key].get("status"), table[key].get("failure") or None
        assert failure == given_failure
        assert ok is (status is True if isinstance(status, bool) else given_failure is None)
