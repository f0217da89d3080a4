"""classify_censoredplanet(): one Censored Planet record, judged with the same vocabulary.

Hyperquack (v1: Server/Keyword/Results; v2: vp/service/test_url/response) sends a keyword to
an echo, discard, HTTP or HTTPS server abroad and compares the answer with a template: the
keyword travels in the HTTP Host header (http layer) or the TLS SNI (tls layer). Satellite
(v2.1 and v2.2 layouts) asks open resolvers for a name and tags each answer with what matched
control resolvers' answers (ip, http, cert, asnum, asname). Satellite v2.2 also fetches pages
from suspicious answers; those fetch records are judged for blockpages.

The order in which the rules are tried is HYPERQUACK_ORDER, SATELLITE_ORDER and
SATELLITE_FETCH_ORDER at the end of this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from reachwatch.classify._combine import classified
from reachwatch.classify._errors import InvalidMeasurement, Unsupported
from reachwatch.classify._fingerprints import Fingerprints, Match, default_fingerprints
from reachwatch.classify._net import ip_version, is_bogon
from reachwatch.classify._rules import Predicate, Step, always, first_match, most_decisive, observe
from reachwatch.classify.verdicts import Classified, Observation

HYPERQUACK_SERVICES = ("echo", "discard", "http", "https")

# Go's time formats: RFC 3339 with nanoseconds, and "2021-10-20 14:51:41.22 -0400 EDT".
_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?"
)


def classify_censoredplanet(
    record: Mapping[str, Any],
    *,
    fingerprints: Fingerprints | None = None,
    service: str | None = None,
    measurement_id: str | None = None,
) -> Classified:
    """Judge one Hyperquack or Satellite record. `service` names the Hyperquack v1 scan the
    record came from (echo, discard, http, https) when the caller knows it from the file name;
    v2 records say it themselves. `measurement_id` replaces the content digest as the id."""
    if not isinstance(record, Mapping):
        raise InvalidMeasurement(f"a record is an object, not {type(record).__name__}")
    fps = fingerprints or default_fingerprints()
    judged = _classify_record(record, fps, service)
    if measurement_id is not None:
        judged.id = measurement_id
    return judged


def _classify_record(
    record: Mapping[str, Any], fps: Fingerprints, service: str | None
) -> Classified:
    try:
        if "Keyword" in record and "Results" in record:
            return _hyperquack_v1(record, fps, service)
        if record.get("service") in HYPERQUACK_SERVICES and "test_url" in record:
            return _hyperquack_v2(record, fps)
        if "test_url" in record and "vp" in record and "response" in record:
            return _satellite(record, fps)
        if {"ip", "keyword", "fetched"} <= record.keys():
            return _satellite_fetch(record, fps)
        if {"resolver", "query", "answers"} <= record.keys():
            raise Unsupported("Satellite v1 records are not classified")
    except (Unsupported, InvalidMeasurement):
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidMeasurement(f"malformed Censored Planet record: {exc!r}") from exc
    raise InvalidMeasurement("not a Hyperquack or Satellite record")


# --- Hyperquack ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Trial:
    control: bool  # a control keyword, sent to check the server itself
    matched: bool  # the answer matched the server's template
    page: Any  # what came back: text (echo, discard) or a parsed HTTP response
    error: str
    start: str
    bare: bool = False  # the keyword was sent alone (HTTP/HTTPS v1), not in a request


def _hyperquack_v1(record: Mapping[str, Any], fps: Fingerprints, service: str | None) -> Classified:
    keyword = _text(record["Keyword"])
    trials = []
    for r in _list(record["Results"]):
        sent = r.get("Sent") or ""
        trials.append(
            _Trial(
                control=bool(sent) and keyword not in sent,
                matched=r.get("Success") is True,
                page=r.get("Received"),
                error=str(r.get("Error") or ""),
                start=str(r.get("StartTime") or ""),
                bare=bool(sent) and not sent.startswith("GET "),
            )
        )
    kind = service or _infer_service(trials)
    return _hyperquack(
        record,
        fps,
        service=kind,
        keyword=keyword,
        server=_text(record["Server"]),
        cc="ZZ",
        trials=trials,
        anomaly=record.get("Blocked") is True,
        controls_failed=record.get("FailSanity") is True,
    )


def _infer_service(trials: list[_Trial]) -> str:
    """v1 records do not name their scan: HTTPS answers carry TLS details, HTTP answers are
    parsed, an echo server is judged by its echo."""
    for t in trials:
        if isinstance(t.page, dict):
            return "https" if "tls" in t.page else "http"
        if "echo" in t.error:
            return "echo"
        if t.error == "Received response":
            return "discard"
    # HTTP(S) scans send the bare keyword; echo and discard send a whole request.
    return "http" if any(t.bare for t in trials) else "echo"


def _hyperquack_v2(record: Mapping[str, Any], fps: Fingerprints) -> Classified:
    trials = [
        _Trial(
            control="control_url" in r,
            matched=r.get("matches_template") is True,
            page=r.get("response"),
            error=str(r.get("error") or ""),
            start=str(r.get("start_time") or ""),
        )
        for r in _list(record["response"])
    ]
    location = record.get("location")
    cc = location.get("country_code") if isinstance(location, dict) else None
    return _hyperquack(
        record,
        fps,
        service=str(record["service"]),
        keyword=_text(record["test_url"]),
        server=_text(record["vp"]),
        cc=cc if isinstance(cc, str) and cc else "ZZ",
        trials=trials,
        anomaly=record.get("anomaly") is True,
        controls_failed=record.get("controls_failed") is True,
    )


def _hyperquack(
    record: Mapping[str, Any],
    fps: Fingerprints,
    *,
    service: str,
    keyword: str,
    server: str,
    cc: str,
    trials: list[_Trial],
    anomaly: bool,
    controls_failed: bool,
) -> Classified:
    obs = _judge_hyperquack(fps, service, keyword, server, trials, anomaly, controls_failed)
    return classified(
        record=record,
        input=keyword,
        test_name=f"hyperquack_{service}",
        probe_cc=cc.upper(),
        probe_asn="AS0",
        start=_utc(next((t.start for t in trials if t.start), "")),
        observations=[obs],
        stages=(obs.layer,),
    )


def _judge_hyperquack(
    fps: Fingerprints,
    service: str,
    keyword: str,
    server: str,
    trials: list[_Trial],
    anomaly: bool,
    controls_failed: bool,
) -> Observation:
    layer = "tls" if service == "https" else "http"
    c = _Quack(fps, trials, anomaly, controls_failed)
    step = first_match(HYPERQUACK_ORDER, c)
    technique: str | None = None
    failure: str | None = None
    if step == "cp_blockpage_signature" and c.blockpage is not None:
        technique, failure = "http.blockpage", c.blockpage.name
    elif step == "cp_false_positive_signature":
        failure = c.matches()[0].name
    elif step == "cp_reset_after_keyword":
        technique, failure = f"{layer}.reset", "connection_reset"
    elif step == "cp_timeout_after_keyword":
        technique, failure = f"{layer}.timeout", "generic_timeout_error"
    return observe(f"{layer}.{step}", keyword, server, technique=technique, failure=failure)


class _Quack:
    """A keyword's trials against one server, and what the rules ask of them."""

    __slots__ = ("_matches", "anomaly", "blockpage", "controls_failed", "failed", "fps")

    def __init__(
        self, fps: Fingerprints, trials: list[_Trial], anomaly: bool, controls_failed: bool
    ) -> None:
        self.fps = fps
        self.anomaly = anomaly
        self.controls_failed = controls_failed
        self.failed = [t for t in trials if not t.control and not t.matched]
        self._matches: list[Match] | None = None
        self.blockpage: Match | None = None

    def matches(self) -> list[Match]:
        """Fingerprints matched by the answers that differed from the template."""
        if self._matches is None:
            fps = self.fps
            self._matches = [
                m for t in self.failed if t.page and (m := match_page(fps, t.page)) is not None
            ]
            self.blockpage = next((m for m in self._matches if m.blocking), None)
        return self._matches

    def errors(self) -> list[str]:
        return [t.error for t in self.failed if t.error]


class _ControlsFailed(Predicate[_Quack]):
    def holds(self, c: _Quack) -> bool:
        return c.controls_failed


class _AllMatchedTemplate(Predicate[_Quack]):
    def holds(self, c: _Quack) -> bool:
        return not c.failed


class _BlockpageSignature(Predicate[_Quack]):
    def holds(self, c: _Quack) -> bool:
        c.matches()
        return c.blockpage is not None


class _FalsePositiveSignature(Predicate[_Quack]):
    def holds(self, c: _Quack) -> bool:
        return bool(c.matches())


class _NotAnAnomaly(Predicate[_Quack]):
    def holds(self, c: _Quack) -> bool:
        return not c.anomaly


class _ResetAfterKeyword(Predicate[_Quack]):
    def holds(self, c: _Quack) -> bool:
        return any("reset" in e for e in c.errors())


class _TimeoutAfterKeyword(Predicate[_Quack]):
    def holds(self, c: _Quack) -> bool:
        return any("timeout" in e or "timed out" in e for e in c.errors())


def match_page(fps: Fingerprints, page: Any) -> Match | None:
    """Fingerprints against a Hyperquack/Satellite answer: raw text (echo, discard) or a parsed
    HTTP response {status_line, headers: {name: [values]}, body}."""
    if isinstance(page, str):
        return fps.match_page(page)
    if not isinstance(page, dict):
        return None
    body_value, headers_value = page.get("body"), page.get("headers")
    body: str = body_value if isinstance(body_value, str) else ""
    raw_headers: dict[str, Any] = headers_value if isinstance(headers_value, dict) else {}
    headers = {
        str(k).lower(): str(v[0] if isinstance(v, list) and v else v)
        for k, v in raw_headers.items()
    }
    found = fps.match_http(body, headers)
    if found is not None:
        return found
    head = "\r\n".join(f"{k}: {v}" for k, v in raw_headers.items())
    return fps.match_page(f"{page.get('status_line', '')}\r\n{head}\r\n\r\n{body}")


# --- Satellite ----------------------------------------------------------------------------


def _satellite(record: Mapping[str, Any], fps: Fingerprints) -> Classified:
    domain = _text(record["test_url"])
    resolver = _text(record["vp"])
    response = record["response"]
    if "passed_control" in record and isinstance(response, list):
        raise Unsupported("Satellite control-resolver records are not measurements")
    if isinstance(response, list):
        obs = _satellite_v22(record, fps, domain, resolver, response)
    elif isinstance(response, dict):
        obs = _satellite_v21(record, fps, domain, resolver, response)
    else:
        raise InvalidMeasurement("Satellite response is neither a list nor an object")
    location = record.get("location")
    cc = location.get("country_code") if isinstance(location, dict) else None
    return classified(
        record=record,
        input=domain,
        test_name="satellite",
        probe_cc=cc.upper() if isinstance(cc, str) and cc else "ZZ",
        probe_asn="AS0",
        start=_utc(str(record.get("start_time") or "")),
        observations=[obs],
        stages=("dns",),
    )


def _satellite_v22(
    record: Mapping[str, Any],
    fps: Fingerprints,
    domain: str,
    resolver: str,
    response: list[Any],
) -> Observation:
    if record.get("passed_liveness") is False or record.get("connect_error") is True:
        return observe("dns.sat_resolver_unreliable", domain, resolver)
    if record.get("excluded") is True:
        return observe("dns.sat_resolver_unreliable", domain, resolver)
    queries = [q for q in response if isinstance(q, dict) and q.get("url") == domain]
    if not queries:
        return observe("dns.sat_resolver_unreliable", domain, resolver)
    judged = []
    for q in queries:
        answers = q.get("response") or {}
        if not isinstance(answers, dict):
            raise InvalidMeasurement("Satellite answers are not an object")
        tags = {ip: bool(info.get("matched")) for ip, info in answers.items()}
        rcode = q.get("rcode")
        judged.append(
            _satellite_answer(fps, domain, resolver, tags, rcode, record.get("anomaly") is True)
        )
    return most_decisive(judged)


def _satellite_v21(
    record: Mapping[str, Any],
    fps: Fingerprints,
    domain: str,
    resolver: str,
    response: dict[str, Any],
) -> Observation:
    if record.get("passed_control") is False or record.get("connect_error") is True:
        return observe("dns.sat_resolver_unreliable", domain, resolver)
    rcodes = [int(c) for c in response.get("rcode") or []]
    tags = {
        ip: bool(t) and t != ["no_tags"]
        for ip, t in response.items()
        if ip_version(ip) and isinstance(t, list)
    }
    # Retries leave one rcode each; an NXDOMAIN among them is the resolver's answer.
    rcode = 0 if tags else (3 if 3 in rcodes else (rcodes[-1] if rcodes else -1))
    return _satellite_answer(fps, domain, resolver, tags, rcode, record.get("anomaly") is True)


def _satellite_answer(
    fps: Fingerprints,
    domain: str,
    resolver: str,
    tags: dict[str, bool],
    rcode: Any,
    anomaly: bool,
) -> Observation:
    """One resolver's answer: addresses with whether each matched the control resolvers'."""
    c = _Answer(fps, resolver, tags, rcode, anomaly)
    rule = first_match(SATELLITE_ORDER, c)
    technique: str | None = _SATELLITE_TECHNIQUES.get(rule)
    failure: str | None = None
    if rule == "dns.sat_nxdomain":
        failure = "dns_nxdomain_error"
    elif rule == "dns.sat_rcode_error":
        failure = f"rcode {rcode}"
    elif rule == "dns.sat_fingerprint_address":
        # Reserved space is a bogon whoever wrote the fingerprint; dns.injected is a public one.
        bogon = any(is_bogon(ip) for ip in c.ips if fps.match_dns(ip))
        technique = "dns.bogon" if bogon else "dns.injected"
    return observe(rule, domain, resolver, technique=technique, failure=failure)


_SATELLITE_TECHNIQUES: Final = {
    "dns.sat_nxdomain": "dns.nxdomain",
    "dns.sat_bogon": "dns.bogon",
    "dns.sat_answer_is_resolver": "dns.injected",
}


class _Answer:
    __slots__ = ("anomaly", "fps", "ips", "rcode", "resolver", "tags")

    def __init__(
        self, fps: Fingerprints, resolver: str, tags: dict[str, bool], rcode: Any, anomaly: bool
    ) -> None:
        self.fps = fps
        self.resolver = resolver
        self.tags = tags
        self.rcode = rcode
        self.anomaly = anomaly
        self.ips = [ip for ip in tags if ip_version(ip)]


class _NxdomainAnomaly(Predicate[_Answer]):
    def holds(self, c: _Answer) -> bool:
        return not c.ips and c.rcode == 3 and c.anomaly


class _NoResponse(Predicate[_Answer]):
    def holds(self, c: _Answer) -> bool:
        return not c.ips and c.rcode == -1


class _NoAddress(Predicate[_Answer]):
    def holds(self, c: _Answer) -> bool:
        return not c.ips


class _FingerprintedAnswer(Predicate[_Answer]):
    def holds(self, c: _Answer) -> bool:
        return any(c.fps.match_dns(ip) for ip in c.ips)


class _BogonAnswer(Predicate[_Answer]):
    def holds(self, c: _Answer) -> bool:
        return any(is_bogon(ip) for ip in c.ips)


class _MatchedControlResolvers(Predicate[_Answer]):
    def holds(self, c: _Answer) -> bool:
        return any(c.tags.values())


class _AnswerIsTheResolver(Predicate[_Answer]):
    def holds(self, c: _Answer) -> bool:
        return c.resolver in c.ips


def _satellite_fetch(record: Mapping[str, Any], fps: Fingerprints) -> Classified:
    ip, domain = _text(record["ip"]), _text(record["keyword"])
    pages = [p for p in (record.get("http"), record.get("https")) if isinstance(p, dict)]
    matches = [m for p in pages if (m := match_page(fps, p)) is not None]
    rule = first_match(SATELLITE_FETCH_ORDER, matches)
    if rule == "dns.sat_page_unconfirmed":
        obs = observe(rule, domain, ip)
    else:
        blockpage = next((m for m in matches if m.blocking), matches[0])
        obs = observe(rule, domain, ip, technique="dns.injected", failure=blockpage.name)
    return classified(
        record=record,
        input=domain,
        test_name="satellite_blockpage",
        probe_cc="ZZ",
        probe_asn="AS0",
        start=_utc(str(record.get("start_time") or "")),
        observations=[obs],
        stages=("dns",),
    )


class _BlockpageServed(Predicate[list[Match]]):
    def holds(self, matches: list[Match]) -> bool:
        return any(m.blocking for m in matches)


class _KnownFalsePositive(Predicate[list[Match]]):
    def holds(self, matches: list[Match]) -> bool:
        return bool(matches)


# --- helpers ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidMeasurement(f"expected a non-empty string, got {value!r:.40}")
    return value


def _list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidMeasurement("expected a list of objects")
    return value


def _utc(text: str) -> str:
    """Go timestamps as OONI's "YYYY-MM-DD hh:mm:ss" in UTC ('' when unreadable)."""
    found = _TIME.search(text)
    if found is None:
        return ""
    day, hh, mm, ss, offset = found.groups()
    when = datetime.fromisoformat(f"{day}T{hh}:{mm}:{ss}")
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        when -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return when.strftime("%Y-%m-%d %H:%M:%S")


# Hyperquack, per keyword and server (each step's rule id is prefixed by the layer: http for
# echo, discard and HTTP; tls for HTTPS): the server's own sanity first, the template, then what
# the differing answers were (a known page, else how the connection ended).
HYPERQUACK_ORDER: Final[tuple[Step[_Quack], ...]] = (
    Step("cp_controls_failed", _ControlsFailed()),
    Step("cp_matches_template", _AllMatchedTemplate()),
    Step("cp_blockpage_signature", _BlockpageSignature()),
    Step("cp_false_positive_signature", _FalsePositiveSignature()),
    Step("cp_intermittent", _NotAnAnomaly()),
    Step("cp_reset_after_keyword", _ResetAfterKeyword()),
    Step("cp_timeout_after_keyword", _TimeoutAfterKeyword()),
    Step("cp_anomaly_unconfirmed", always),
)

# Satellite, one resolver's answer: no address (by rcode), then what the addresses are.
SATELLITE_ORDER: Final[tuple[Step[_Answer], ...]] = (
    Step("dns.sat_nxdomain", _NxdomainAnomaly()),
    Step("dns.sat_no_response", _NoResponse()),
    Step("dns.sat_rcode_error", _NoAddress()),
    Step("dns.sat_fingerprint_address", _FingerprintedAnswer()),
    Step("dns.sat_bogon", _BogonAnswer()),
    Step("dns.sat_answer_matches_control", _MatchedControlResolvers()),
    Step("dns.sat_answer_is_resolver", _AnswerIsTheResolver()),
    Step("dns.sat_answer_unconfirmed", always),
)

# Satellite v2.2's fetch of a page from a suspicious answer: the fingerprints it matched.
SATELLITE_FETCH_ORDER: Final[tuple[Step[list[Match]], ...]] = (
    Step("dns.sat_blockpage_at_answer", _BlockpageServed()),
    Step("dns.sat_false_positive_at_answer", _KnownFalsePositive()),
    Step("dns.sat_page_unconfirmed", always),
)
