"""Censored Planet scan records: Hyperquack (echo, discard, http, https; v1 and v2) and
Satellite (v2.1, v2.2). Raw scan files are JSON lines, one record per line, whatever their name.

Other lines found beside them in a scan folder (resolver lists, tagged answers, blockpage
captures) are not measurements; Satellite v1 records are measurements reachwatch does not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reachwatch.formats.ids import measurement_id
from reachwatch.formats.ooni import (
    BadMeasurement,
    Identity,
    host_of,
    is_country_code,
    parse_time,
)

HYPERQUACK_SERVICES = ("echo", "discard", "http", "https")


def record_kind(record: Mapping[str, Any]) -> str | None:
    """'hyperquack_v1', 'hyperquack_v2', 'satellite_v1', 'satellite_v2.1', 'satellite_v2.2',
    or None when the record is not a Censored Planet measurement."""
    if "Server" in record and "Keyword" in record and "Results" in record:
        return "hyperquack_v1"
    if "vp" in record and "test_url" in record:
        if "service" in record:
            return "hyperquack_v2"
        if "anomaly" in record:
            return "satellite_v2.2" if "passed_liveness" in record else "satellite_v2.1"
        return None
    if {"resolver", "query", "answers", "passed"} <= record.keys():
        return "satellite_v1"
    return None


def service_from_path(path: Path) -> str | None:
    """Hyperquack v1 records do not name their service; their file and folder names do."""
    text = f"{path.parent.name}/{path.name}".lower()
    for service in ("discard", "https", "http", "echo"):  # https before http
        if service in text:
            return service
    return None


def censoredplanet_identity(
    record: Mapping[str, Any], kind: str, raw: bytes, path: Path
) -> Identity:
    """Identity of a Hyperquack or Satellite v2 record; BadMeasurement when malformed."""
    if kind == "hyperquack_v1":
        service = service_from_path(path)
        if service is None:
            raise BadMeasurement("unknown_service", "Hyperquack v1 file name names no service")
        keyword = _text(record, "Keyword")
        results = record.get("Results")
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            raise BadMeasurement("wrong_type", "'Results' is not a non-empty list of objects")
        start = _cp_time(_text(results[0], "StartTime"))
        test_name, cc, measured = f"hyperquack_{service}", "ZZ", keyword
    elif kind == "hyperquack_v2":
        service = _text(record, "service")
        if service not in HYPERQUACK_SERVICES:
            raise BadMeasurement("unknown_service", f"Hyperquack service {service[:20]!r}")
        responses = record.get("response")
        if not isinstance(responses, list) or not responses or not isinstance(responses[0], dict):
            raise BadMeasurement("wrong_type", "'response' is not a non-empty list of objects")
        start = _cp_time(_text(responses[0], "start_time"))
        test_name, cc, measured = (
            f"hyperquack_{service}",
            _country(record),
            _text(record, "test_url"),
        )
    else:  # satellite v2.1 / v2.2
        start = _cp_time(_text(record, "start_time"))
        test_name, cc, measured = "satellite", _country(record), _text(record, "test_url")
    return Identity(
        measurement_id=measurement_id(record),
        source="censoredplanet",
        test_name=test_name,
        input=measured,
        host=host_of(measured),
        probe_cc=cc,
        probe_asn="AS0",  # scans record the vantage point's address, not its network
        start=start,
        synthetic=False,
    )


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if value is None:
        raise BadMeasurement("missing_key", f"no {key!r}")
    if not isinstance(value, str):
        raise BadMeasurement("wrong_type", f"{key!r} is {type(value).__name__}")
    return value


def _country(record: Mapping[str, Any]) -> str:
    location = record.get("location")
    if not isinstance(location, dict):
        return "ZZ"
    code = location.get("country_code")
    return code.upper() if isinstance(code, str) and is_country_code(code) else "ZZ"


def _cp_time(text: str) -> datetime:
    """RFC 3339 (Hyperquack) or Go's time.String() (Satellite:
    '2021-04-25 15:37:16.850234875 -0400 EDT m=+13035.12'), as naive UTC."""
    if text[10:11] == "T":
        # Nanoseconds are more digits than Python reads; microseconds are plenty.
        head, dot, rest = text.partition(".")
        if dot:
            digits = len(rest) - len(rest.lstrip("0123456789"))
            text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
        return parse_time(text)
    parts = text.split(" ")
    if len(parts) < 3:
        raise BadMeasurement("bad_timestamp", f"unreadable time {text[:40]!r}")
    clock = parts[1].split(".")[0]
    try:
        value = datetime.strptime(f"{parts[0]} {clock} {parts[2]}", "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        raise BadMeasurement("bad_timestamp", f"unreadable time {text[:40]!r}") from None
    try:
        return value.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # year 1 or 9999 pushed out of range by its offset
        raise BadMeasurement("bad_timestamp", f"time out of range {text[:40]!r}") from None
