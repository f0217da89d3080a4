"""Censored Planet records written by hand: Hyperquack v1 (which does not name its scan),
Satellite v2.1 (tags per answer, rcodes per retry), v2.2 and its blockpage fetches. Each test
pins a behaviour mutation testing found no test of tests/classify checking."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import InvalidMeasurement, Unsupported, classify_censoredplanet

KEYWORD = "blocked.example"
ECHO_REQUEST = f"GET / HTTP/1.1\r\nHost: {KEYWORD}\r\n\r\n"
CONTROL_REQUEST = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
PUBLIC = "93.184.216.34"
RESOLVER = "77.88.8.8"
SURF_SAFELY = "This website is prohibited for viewership from within Pakistan."
NGINX = "<html><title>Welcome to nginx!</title></html>"


def _v1(*results: dict[str, Any], blocked: bool = True, sanity_failed: bool = False) -> Any:
    record = {
        "Server": "198.51.100.80",
        "Keyword": KEYWORD,
        "Results": list(results),
        "Blocked": blocked,
        "FailSanity": sanity_failed,
    }
    return classify_censoredplanet(record)


def _trial(sent: str | None, error: str = "", *, received: Any = "", ok: bool = False) -> Any:
    trial: dict[str, Any] = {"Received": received, "Success": ok, "Error": error}
    if sent is not None:
        trial["Sent"] = sent
    return trial


# --- Hyperquack v1 ------------------------------------------------------------------------


def test_v1_keyword_reset_is_blocked_at_http_with_the_keyword_and_server() -> None:
    c = _v1(_trial(KEYWORD, "read: connection reset by peer"))
    assert (c.verdict, c.technique, c.test_name) == ("blocked", "http.reset", "hyperquack_http")
    (o,) = c.observations
    assert (o.host, o.address, o.failure) == (KEYWORD, "198.51.100.80", "connection_reset")
    assert (c.input, c.probe_cc, c.probe_asn) == (KEYWORD, "ZZ", "AS0")


def test_v1_keyword_timeout_is_blocked_by_timeout() -> None:
    c = _v1(_trial(KEYWORD, "read: i/o timeout"))
    assert (c.verdict, c.technique) == ("blocked", "http.timeout")
    assert c.observations[0].failure == "generic_timeout_error"


def test_v1_a_failing_control_keyword_is_not_the_keywords_failure() -> None:
    """A trial whose request does not carry the keyword checks the server, not the keyword."""
    c = _v1(
        _trial(CONTROL_REQUEST, "read: connection reset by peer"),
        _trial(ECHO_REQUEST, ok=True),
    )
    assert c.layers["http"].rule == "http.cp_matches_template"
    assert c.verdict == "accessible"


def test_v1_success_means_the_template_matched() -> None:
    assert _v1(_trial(KEYWORD, ok=True)).layers["http"].rule == "http.cp_matches_template"
    assert _v1(_trial(KEYWORD)).layers["http"].rule == "http.cp_anomaly_unconfirmed"


def test_v1_failed_sanity_and_no_anomaly() -> None:
    reset = _trial(KEYWORD, "read: connection reset by peer")
    assert _v1(reset, sanity_failed=True).layers["http"].rule == "http.cp_controls_failed"
    assert _v1(reset, blocked=False).layers["http"].rule == "http.cp_intermittent"


def test_v1_start_time_is_the_first_one_given_in_utc() -> None:
    c = _v1(
        _trial(KEYWORD, ok=True),
        dict(_trial(KEYWORD, ok=True), StartTime="2021-10-20 14:51:41.22 -0400 EDT"),
        dict(_trial(KEYWORD, ok=True), StartTime="2021-10-21T00:00:00Z"),
    )
    assert c.measurement_start_time == "2021-10-20 18:51:41"


@pytest.mark.parametrize(
    ("start", "utc"),
    [
        ("2024-02-18T10:00:00+05:30", "2024-02-18 04:30:00"),
        ("2024-02-18T10:00:00.123456789-0130", "2024-02-18 11:30:00"),
        ("2024-02-18T10:00:00Z", "2024-02-18 10:00:00"),
        ("2024-02-18 10:00:00", "2024-02-18 10:00:00"),
        ("not a time", ""),
    ],
)
def test_go_timestamps_become_utc(start: str, utc: str) -> None:
    c = _v1(dict(_trial(KEYWORD, ok=True), StartTime=start))
    assert c.measurement_start_time == utc


@pytest.mark.parametrize(
    ("trial", "scan", "layer"),
    [
        # A parsed answer with TLS details: an HTTPS scan, judged at tls.
        (_trial(KEYWORD, received={"status_line": "HTTP/1.1 200 OK", "tls": {}}), "https", "tls"),
        (_trial(KEYWORD, received={"status_line": "HTTP/1.1 200 OK"}), "http", "http"),
        (_trial(ECHO_REQUEST, "Incorrect echo response"), "echo", "http"),
        (_trial(ECHO_REQUEST, "Received response"), "discard", "http"),
        # Nothing else to go by: the bare keyword is an HTTP(S) scan, a whole request an echo.
        (_trial(KEYWORD, "read: connection reset by peer"), "http", "http"),
        (_trial(ECHO_REQUEST, "read: connection reset by peer"), "echo", "http"),
        (_trial(None, "read: connection reset by peer"), "echo", "http"),
    ],
)
def test_v1_scan_is_inferred_from_its_answers(trial: Any, scan: str, layer: str) -> None:
    c = _v1(trial)
    assert c.test_name == f"hyperquack_{scan}"
    assert list(c.layers) == [layer]


def test_v1_scan_inference_reads_every_trial_in_order() -> None:
    # The first trial says nothing; the second is a parsed HTTPS answer.
    c = _v1(_trial(KEYWORD), _trial(KEYWORD, received={"tls": {"version": 771}}))
    assert c.test_name == "hyperquack_https"
    c = _v1(_trial(ECHO_REQUEST), _trial(ECHO_REQUEST, "Received response"))
    assert c.test_name == "hyperquack_discard"


def test_a_service_given_by_the_caller_overrides_the_inference() -> None:
    record = {
        "Server": "198.51.100.80",
        "Keyword": KEYWORD,
        "Results": [_trial(KEYWORD, "read: connection reset by peer")],
        "Blocked": True,
        "FailSanity": False,
    }
    c = classify_censoredplanet(record, service="https")
    assert (c.test_name, c.technique) == ("hyperquack_https", "tls.reset")


def test_v2_without_a_country_is_zz() -> None:
    record = {
        "vp": "198.51.100.80",
        "service": "echo",
        "test_url": KEYWORD,
        "response": [{"matches_template": True}],
        "anomaly": False,
        "location": {"country_code": ""},
    }
    assert classify_censoredplanet(record).probe_cc == "ZZ"
    assert classify_censoredplanet(dict(record, location="PK")).probe_cc == "ZZ"
    assert classify_censoredplanet(dict(record, location={"country_code": "pk"})).probe_cc == "PK"


# --- Satellite v2.1 -----------------------------------------------------------------------


def _v21(response: dict[str, Any], **keys: Any) -> Any:
    record = {
        "vp": RESOLVER,
        "test_url": KEYWORD,
        "location": {"country_code": "ru"},
        "passed_control": True,
        "connect_error": False,
        "anomaly": True,
        "start_time": "2021-04-25 10:00:00.5 +0300 MSK",
        "response": response,
    }
    record.update(keys)
    return classify_censoredplanet(record)


def _rule(c: Any) -> tuple[str, str, str | None, str | None]:
    (o,) = c.observations
    return o.rule, c.verdict, c.technique, o.failure


def test_v21_an_answer_matching_the_control_resolvers_is_accessible() -> None:
    c = _v21({"rcode": ["0"], PUBLIC: ["ip", "http"]})
    assert _rule(c) == ("dns.sat_answer_matches_control", "accessible", None, None)
    assert (c.test_name, c.probe_cc, c.input) == ("satellite", "RU", KEYWORD)
    assert c.measurement_start_time == "2021-04-25 07:00:00"
    assert c.observations[0].address == RESOLVER


@pytest.mark.parametrize("tags", [["no_tags"], []])
def test_v21_an_untagged_answer_is_unconfirmed(tags: list[str]) -> None:
    c = _v21({"rcode": ["0"], PUBLIC: tags})
    assert _rule(c) == ("dns.sat_answer_unconfirmed", "inconclusive", None, None)


def test_v21_values_that_are_not_addresses_or_tag_lists_are_not_answers() -> None:
    c = _v21({"rcode": ["2"], "error": ["x"], PUBLIC: "ip"})
    assert _rule(c)[0] == "dns.sat_rcode_error"


@pytest.mark.parametrize("rcodes", [["2", "3"], ["3", "2"], ["3"]])
def test_v21_an_nxdomain_among_retries_is_the_resolvers_answer(rcodes: list[str]) -> None:
    c = _v21({"rcode": rcodes})
    assert _rule(c) == ("dns.sat_nxdomain", "blocked", "dns.nxdomain", "dns_nxdomain_error")


def test_v21_nxdomain_without_anomaly_is_not_blocked() -> None:
    c = _v21({"rcode": ["3"]}, anomaly=False)
    assert _rule(c) == ("dns.sat_rcode_error", "inconclusive", None, "rcode 3")


def test_v21_another_rcode_is_the_last_retrys() -> None:
    assert _rule(_v21({"rcode": ["0", "2"]}))[3] == "rcode 2"
    assert _rule(_v21({"rcode": ["5", "0"]}))[3] == "rcode 0"


def test_v21_no_rcode_at_all_is_no_response() -> None:
    assert _rule(_v21({"rcode": []}))[0] == "dns.sat_no_response"
    assert _rule(_v21({}))[0] == "dns.sat_no_response"


@pytest.mark.parametrize("keys", [{"passed_control": False}, {"connect_error": True}])
def test_v21_an_unreliable_resolver_says_nothing(keys: dict[str, Any]) -> None:
    c = _v21({"rcode": ["3"]}, **keys)
    assert _rule(c) == ("dns.sat_resolver_unreliable", "inconclusive", None, None)


def test_v21_a_fingerprinted_public_address_is_injected_a_reserved_one_a_bogon() -> None:
    public = _v21({"rcode": ["0"], "195.175.254.2": []})
    assert _rule(public) == (
        "dns.sat_fingerprint_address",
        "blocked",
        "dns.injected",
        None,
    )
    reserved = _v21({"rcode": ["0"], PUBLIC: [], "10.10.34.34": []})
    assert _rule(reserved)[:3] == ("dns.sat_fingerprint_address", "blocked", "dns.bogon")


def test_v21_a_bogon_answer_is_blocked_even_if_tagged() -> None:
    c = _v21({"rcode": ["0"], "10.1.2.3": ["ip"]})
    assert _rule(c) == ("dns.sat_bogon", "blocked", "dns.bogon", None)


def test_v21_the_resolver_answering_its_own_address_is_injected() -> None:
    c = _v21({"rcode": ["0"], RESOLVER: []})
    assert _rule(c) == ("dns.sat_answer_is_resolver", "blocked", "dns.injected", None)


# --- Satellite v2.2 -----------------------------------------------------------------------


def _v22(queries: list[Any], **keys: Any) -> Any:
    record = {
        "vp": RESOLVER,
        "test_url": KEYWORD,
        "passed_liveness": True,
        "connect_error": False,
        "anomaly": True,
        "response": queries,
    }
    record.update(keys)
    return classify_censoredplanet(record)


def _query(answers: Any, rcode: int = 0, url: str = KEYWORD) -> dict[str, Any]:
    return {"url": url, "rcode": rcode, "response": answers}


@pytest.mark.parametrize(
    "keys", [{"passed_liveness": False}, {"connect_error": True}, {"excluded": True}]
)
def test_v22_an_unreliable_or_excluded_resolver_says_nothing(keys: dict[str, Any]) -> None:
    c = _v22([_query({}, rcode=3)], **keys)
    assert _rule(c)[0] == "dns.sat_resolver_unreliable"


def test_v22_only_queries_for_the_tested_name_count() -> None:
    assert _rule(_v22([_query({}, rcode=3, url="other.example")]))[0] == (
        "dns.sat_resolver_unreliable"
    )
    c = _v22([_query({}, rcode=3, url="other.example"), _query({PUBLIC: {"matched": ["ip"]}})])
    assert _rule(c)[0] == "dns.sat_answer_matches_control"


def test_v22_the_most_decisive_query_speaks() -> None:
    c = _v22([_query({PUBLIC: {"matched": ["ip"]}}), _query(None, rcode=3)])
    assert _rule(c)[:3] == ("dns.sat_nxdomain", "blocked", "dns.nxdomain")
    c = _v22([_query({PUBLIC: {"matched": None}}), _query({PUBLIC: {"matched": ["asnum"]}})])
    assert _rule(c)[0] == "dns.sat_answer_matches_control"


def test_v22_answers_that_are_not_an_object_are_invalid() -> None:
    with pytest.raises(InvalidMeasurement):
        _v22([_query([PUBLIC])])


def test_v22_a_list_of_control_resolver_answers_is_not_a_measurement() -> None:
    with pytest.raises(Unsupported):
        _v22([_query({})], passed_control=True)


def test_a_satellite_response_of_another_type_is_invalid() -> None:
    with pytest.raises(InvalidMeasurement, match="neither a list nor an object"):
        _v22("text")  # type: ignore[arg-type]


# --- Satellite v2.2 blockpage fetches -----------------------------------------------------


def _fetch(**pages: Any) -> Any:
    record = {"ip": PUBLIC, "keyword": KEYWORD, "fetched": True, **pages}
    record["start_time"] = "2021-04-25T10:00:00+01:00"
    return classify_censoredplanet(record)


def _page(body: str) -> dict[str, Any]:
    return {"status_line": "HTTP/1.1 200 OK", "headers": {}, "body": body}


def test_fetch_a_blockpage_at_the_answer_is_injected_and_named() -> None:
    c = _fetch(http=_page(NGINX), https=_page(SURF_SAFELY))
    rule, verdict, technique, failure = _rule(c)
    assert (rule, verdict, technique) == ("dns.sat_blockpage_at_answer", "blocked", "dns.injected")
    assert failure is not None and "surf_safely" in failure
    assert (c.test_name, c.probe_cc, c.input) == ("satellite_blockpage", "ZZ", KEYWORD)
    assert c.observations[0].address == PUBLIC
    assert c.measurement_start_time == "2021-04-25 09:00:00"


def test_fetch_a_known_false_positive_page_is_not_blocking() -> None:
    c = _fetch(https=_page(NGINX))
    rule, verdict, technique, failure = _rule(c)
    assert (rule, verdict, technique) == ("dns.sat_false_positive_at_answer", "accessible", None)
    assert failure is not None and "nginx_welcome" in failure


def test_fetch_a_page_nobody_knows_is_unconfirmed() -> None:
    c = _fetch(http=_page("<html>hello</html>"), https="not a page")
    assert _rule(c) == ("dns.sat_page_unconfirmed", "inconclusive", None, None)


# --- what a record is, and what is refused ------------------------------------------------


def test_the_caller_may_name_the_measurement() -> None:
    record = {"ip": PUBLIC, "keyword": KEYWORD, "fetched": True}
    assert classify_censoredplanet(record, measurement_id="cp-1").id == "cp-1"
    derived = classify_censoredplanet(record).id
    assert derived not in ("", "cp-1") and derived == classify_censoredplanet(record).id


def test_a_fetch_record_needs_nothing_but_its_three_keys() -> None:
    c = classify_censoredplanet({"ip": PUBLIC, "keyword": KEYWORD, "fetched": True})
    assert c.layers["dns"].rule == "dns.sat_page_unconfirmed"


@pytest.mark.parametrize(
    ("record", "error", "message"),
    [
        ({"Keyword": KEYWORD}, InvalidMeasurement, "not a Hyperquack or Satellite record"),
        ({"Results": []}, InvalidMeasurement, "not a Hyperquack or Satellite record"),
        ({"test_url": KEYWORD, "vp": RESOLVER}, InvalidMeasurement, "not a Hyperquack"),
        ({"vp": RESOLVER, "response": {}}, InvalidMeasurement, "not a Hyperquack"),
        (
            {"resolver": RESOLVER, "query": KEYWORD, "answers": {}},
            Unsupported,
            "Satellite v1 records are not classified",
        ),
        (
            {"Server": "198.51.100.80", "Keyword": KEYWORD, "Results": [1]},
            InvalidMeasurement,
            "expected a list of objects",
        ),
        (
            {"Server": "", "Keyword": KEYWORD, "Results": []},
            InvalidMeasurement,
            "expected a non-empty string, got ''",
        ),
        (
            {"Server": "198.51.100.80", "Keyword": KEYWORD, "Results": [{"Sent": 5}]},
            InvalidMeasurement,
            "malformed Censored Planet record: TypeError",
        ),
    ],
)
def test_a_record_that_cannot_be_judged_says_why(
    record: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        classify_censoredplanet(record)


def test_a_record_that_is_not_an_object_is_named_by_its_type() -> None:
    with pytest.raises(InvalidMeasurement, match="a record is an object, not list"):
        classify_censoredplanet([])  # type: ignore[arg-type]


def test_control_resolver_records_are_not_measurements() -> None:
    with pytest.raises(Exception, match="Satellite control-resolver records are not measurements"):
        _v22([_query({})], passed_control=True)


# --- Hyperquack v2 ------------------------------------------------------------------------


def _v2(*trials: dict[str, Any], **keys: Any) -> Any:
    record = {
        "vp": "198.51.100.80",
        "service": "http",
        "test_url": KEYWORD,
        "response": list(trials),
        "anomaly": True,
        "controls_failed": False,
    }
    record.update(keys)
    return classify_censoredplanet(record)


def test_v2_control_trials_and_template_matches_are_not_failures() -> None:
    c = _v2(
        {"control_url": "example.com", "matches_template": False, "error": "connection reset"},
        {"matches_template": True},
    )
    assert (c.layers["http"].rule, c.verdict) == ("http.cp_matches_template", "accessible")
    (o,) = c.observations
    assert (o.host, o.address, c.input) == (KEYWORD, "198.51.100.80", KEYWORD)


def test_v2_the_error_of_a_failed_trial_says_how_it_ended() -> None:
    c = _v2({"matches_template": False, "error": "read tcp: operation timed out"})
    assert (c.layers["http"].rule, c.technique) == ("http.cp_timeout_after_keyword", "http.timeout")
    c = _v2({"matches_template": False, "error": None})
    assert c.layers["http"].rule == "http.cp_anomaly_unconfirmed"


def test_v2_a_known_false_positive_page_names_its_signature() -> None:
    page = {"status_line": "HTTP/1.1 200 OK", "headers": {}, "body": NGINX}
    c = _v2({"matches_template": False, "response": page})
    (o,) = c.observations
    assert o.rule == "http.cp_false_positive_signature"
    assert o.failure is not None and "nginx_welcome" in o.failure
    assert c.technique is None


def test_v2_a_blockpage_is_named() -> None:
    page = {"status_line": "HTTP/1.1 200 OK", "headers": {}, "body": SURF_SAFELY}
    c = _v2({"matches_template": False, "response": page})
    (o,) = c.observations
    assert (o.rule, c.technique) == ("http.cp_blockpage_signature", "http.blockpage")
    assert o.failure is not None and "surf_safely" in o.failure


def test_a_page_is_matched_on_its_status_line_and_headers_too(tmp_path: Any) -> None:
    from reachwatch.classify import load_fingerprints

    signatures = tmp_path / "bp.json"
    signatures.write_text(
        '{"fingerprint":"status_451","pattern":"^HTTP/1.1 451"}\n'
        '{"fingerprint":"censor_header","pattern":"X-Censor: yes\\r\\nVia: a"}\n',
        encoding="utf-8",
    )
    proxies = tmp_path / "http.csv"
    proxies.write_text(
        "name,scope,location_found,pattern_type,pattern\n"
        "censor_proxy,nat,header.server,full,CensorProxy\n",
        encoding="utf-8",
    )
    fps = load_fingerprints(cp_blockpages=signatures, ooni_http=proxies)

    def failure(page: dict[str, Any]) -> str | None:
        record = {
            "vp": "198.51.100.80",
            "service": "http",
            "test_url": KEYWORD,
            "response": [{"matches_template": False, "response": page}],
            "anomaly": True,
        }
        return classify_censoredplanet(record, fingerprints=fps).observations[0].failure

    assert failure({"status_line": "HTTP/1.1 451 Unavailable", "body": "x"}) == "status_451"
    headers = {"X-Censor": "yes", "Via": "a"}
    assert failure({"status_line": "HTTP/1.1 200 OK", "headers": headers}) == "censor_header"
    proxy = {"status_line": "HTTP/1.1 200 OK", "headers": {"Server": ["CensorProxy", "nginx"]}}
    assert failure(proxy) == "censor_proxy"
