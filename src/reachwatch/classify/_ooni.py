"""classify(): OONI-format measurements (web_connectivity, the app tests, urlgetter) and
reachwatch's own probe output, which is a web_connectivity superset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reachwatch.classify._combine import classified
from reachwatch.classify._dns import judge_dns
from reachwatch.classify._errors import InvalidMeasurement, Unsupported
from reachwatch.classify._fingerprints import Fingerprints, default_fingerprints
from reachwatch.classify._http import final_host, final_url, judge_http
from reachwatch.classify._net import failure_kind
from reachwatch.classify._quic_rate import judge_quic, judge_throughput
from reachwatch.classify._rules import observe
from reachwatch.classify._transport import judge_tcp, judge_tls
from reachwatch.classify._view import View, url_port, url_scheme_host, view_of
from reachwatch.classify.verdicts import Classified, Observation

WEB_TESTS = frozenset({"web_connectivity"})
APP_TESTS = frozenset({"whatsapp", "telegram", "signal", "facebook_messenger"})
SUPPORTED_TESTS = WEB_TESTS | APP_TESTS | {"urlgetter"}


def classify(
    measurement: Mapping[str, Any],
    *,
    fingerprints: Fingerprints | None = None,
    measurement_id: str | None = None,
) -> Classified:
    """Judge one OONI-format measurement. Raises Unsupported for tests the classifier does not
    judge and InvalidMeasurement for malformed records. Pure: no I/O.

    The id is `measurement_id` when the caller already has one (ingest does: it saves hashing
    the record twice), else measurement_uid, else a digest of the record's content."""
    if type(measurement) is dict:
        record: dict[str, Any] = measurement  # what JSON parsers give: read at dict speed
    elif isinstance(measurement, Mapping):
        record = dict(measurement)
    else:
        raise InvalidMeasurement(f"a measurement is an object, not {type(measurement).__name__}")
    test_name = record.get("test_name")
    if not isinstance(test_name, str) or not test_name:
        raise InvalidMeasurement("no test_name")
    if test_name not in SUPPORTED_TESTS:
        raise Unsupported(f"test {test_name!r} is not classified")
    test_keys = record.get("test_keys")
    if not isinstance(test_keys, dict):
        if "test_keys" not in record:
            raise InvalidMeasurement("test_keys is missing")
        state = "null" if test_keys is None else type(test_keys).__name__
        raise InvalidMeasurement(f"test_keys is {state}")
    fps = fingerprints or default_fingerprints()
    try:
        view = view_of(record, test_keys)
        if test_name in APP_TESTS:
            observations = _judge_app(view, fps, test_name, test_keys)
        else:
            observations = _judge_web(view, fps)
    except (KeyError, TypeError, AttributeError) as exc:
        raise InvalidMeasurement(f"malformed test_keys: {exc!r}") from exc
    return classified(
        record=record,
        input=view.input,
        test_name=test_name,
        probe_cc=_envelope(record, "probe_cc", "ZZ"),
        probe_asn=_envelope(record, "probe_asn", "AS0"),
        start=_envelope(record, "measurement_start_time", ""),
        observations=observations,
        ident=measurement_id,
        # The port only matters when no page was judged (see overall()).
        port=_port(view) if test_name in WEB_TESTS and not _has_http(observations) else None,
        host=_chain_end(view) if test_name in WEB_TESTS else None,
    )


def _chain_end(view: View) -> str | None:
    """The host the redirect chain ended at, when it is not the input's own (None)."""
    host = final_host(view)
    return host if host and host != view.host else None


def _has_http(observations: list[Observation]) -> bool:
    return any(o.layer == "http" for o in observations)


def _port(view: View) -> int | None:
    """The port of the last URL fetched (the input's when nothing was): connections there
    say whether the site was reached."""
    url = final_url(view)
    if not url:
        return None
    try:
        scheme = url_scheme_host(url)[0]
        explicit = url_port(url)
    except ValueError:
        return None
    if scheme not in ("http", "https"):
        return None
    return explicit or (443 if scheme == "https" else 80)


def _envelope(record: dict[str, Any], key: str, unknown: str) -> str:
    value = record.get(key)
    if value is None or value == "":
        return unknown
    if not isinstance(value, str):
        raise InvalidMeasurement(f"{key} is {type(value).__name__}, not a string")
    return value


def _names(view: View) -> dict[str, str]:
    """Which host each address was resolved for (TCP entries only carry the address)."""
    names: dict[str, str] = {}
    for q in view.queries:
        for a in q.addrs:
            names.setdefault(a, q.hostname or view.host)
    for t in view.tls:
        if t.ip and t.server_name and not t.decoy:
            names.setdefault(t.ip, t.server_name)
    return names


def _judge_web(view: View, fps: Fingerprints) -> list[Observation]:
    # DNS first: it decides which addresses are not the site's, which later layers discount.
    out = judge_dns(view, fps)
    out += judge_tcp(view, _names(view))
    out += judge_tls(view)
    out += judge_http(view, fps)
    out += judge_quic(view)
    out += judge_throughput(view)
    return _throttling_explains_timeouts(out)


def _throttling_explains_timeouts(out: list[Observation]) -> list[Observation]:
    """A page that times out while the same resource trickles in at a steady, throttled rate
    was slowed down, not cut: the timeout is the throttling's doing."""
    for o in out:
        if o.rule == "throughput.throttled_plateau":
            break
    else:
        return out
    return [
        observe(
            "http.timeout_while_throttled",
            o.host,
            o.address,
            technique="throttled",
            failure=o.failure,
        )
        if o.rule == "http.timeout_probe_only"
        else o
        for o in out
    ]


def _judge_app(
    view: View, fps: Fingerprints, test_name: str, test_keys: dict[str, Any]
) -> list[Observation]:
    """The app tests have no control: their endpoints are expected to work, and OONI's own
    per-app summary says whether they did. A failure counts as blocking only when it does."""
    out = judge_dns(view, fps)
    out += judge_tcp(view, _names(view))
    out += judge_tls(view)
    # Each request is a separate fetch, not a redirect chain.
    for r in view.requests:
        out += judge_http(view.with_requests([r]), fps)
    if not _app_reports_blocking(test_name, test_keys):
        return out
    return [_as_app_blocking(o) for o in out]


def _app_reports_blocking(test_name: str, tk: dict[str, Any]) -> bool:
    statuses = {
        "whatsapp": (
            "registration_server_status",
            "whatsapp_endpoints_status",
            "whatsapp_web_status",
        ),
        "telegram": ("telegram_web_status",),
        "signal": ("signal_backend_status",),
        "facebook_messenger": (),
    }[test_name]
    flags = {
        "whatsapp": (),
        "telegram": ("telegram_tcp_blocking", "telegram_http_blocking"),
        "signal": (),
        "facebook_messenger": ("facebook_tcp_blocking", "facebook_dns_blocking"),
    }[test_name]
    return any(tk.get(k) == "blocked" for k in statuses) or any(tk.get(k) is True for k in flags)


def _as_app_blocking(o: Observation) -> Observation:
    if o.rule not in ("tcp.no_control", "tls.no_control", "http.no_control") or not o.failure:
        return o
    kind = failure_kind(o.failure)
    if kind == "other":
        return o  # not a network failure: the app's own summary cannot make it one
    technique = {
        "tcp": "tcp.timeout" if kind == "timeout" else "tcp.reset",
        "tls": {"timeout": "tls.timeout", "certificate": "tls.mitm"}.get(kind, "tls.reset"),
        "http": "http.timeout" if kind == "timeout" else "http.reset",
    }[o.layer]
    return observe(
        f"{o.layer}.app_reports_blocked",
        o.host,
        o.address,
        technique=technique,
        failure=o.failure,
    )


__all__ = ["SUPPORTED_TESTS", "Unsupported", "classify"]
