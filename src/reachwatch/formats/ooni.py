"""OONI measurements (and reachwatch's own probe output, a superset): recognise, check, identify.

What ingest needs to know about one OONI-format measurement before the classifier sees it:
is it one at all, is it well-formed enough to be stored, what is its id, when and where was it
measured. Legacy YAML reports (ooniprobe 1.x, until 2016) are converted to the JSON format.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, Any
from urllib.parse import urlsplit

import yaml

from reachwatch.formats.ids import measurement_id

SYNTHETIC_SOFTWARE = "reachwatch-simulate"
_REACHWATCH_SOFTWARE = ("reachwatch", SYNTHETIC_SOFTWARE)


class BadMeasurement(ValueError):
    """The record cannot be stored; `reason` is the quarantine reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(slots=True, init=False)
class Identity:
    """Who, where and when for one measurement: the columns every stored row shares.

    A value (never changed once made); __init__ is spelled out because ingest compiles this
    module, and a compiled class runs its own __init__ natively, not one dataclass() writes."""

    measurement_id: str
    source: str  # 'ooni' | 'reachwatch' | 'censoredplanet'
    test_name: str
    input: str | None
    host: str | None
    probe_cc: str
    probe_asn: str
    start: datetime  # UTC, naive
    synthetic: bool

    def __init__(
        self,
        measurement_id: str,
        source: str,
        test_name: str,
        input: str | None,
        host: str | None,
        probe_cc: str,
        probe_asn: str,
        start: datetime,
        synthetic: bool,
    ) -> None:
        self.measurement_id = measurement_id
        self.source = source
        self.test_name = test_name
        self.input = input
        self.host = host
        self.probe_cc = probe_cc
        self.probe_asn = probe_asn
        self.start = start
        self.synthetic = synthetic

    @property
    def date(self) -> str:
        return self.start.date().isoformat()


def is_ooni(record: Mapping[str, Any]) -> bool:
    """True when the record claims to be an OONI-format measurement."""
    return "test_keys" in record or "test_name" in record


def ooni_identity(measurement: Mapping[str, Any], raw: bytes) -> Identity:
    """Check an OONI-format record and return its identity; BadMeasurement when it cannot be
    stored (missing or mistyped envelope keys, null test_keys, unreadable time)."""
    # A parsed record is a dict, read at dict speed when this module is compiled.
    record = measurement if type(measurement) is dict else dict(measurement)
    test_name = _required(record, "test_name", str)
    start_text = _required(record, "measurement_start_time", str)
    test_keys = record.get("test_keys", _MISSING)
    if test_keys is _MISSING:
        raise BadMeasurement("missing_key", "no 'test_keys'")
    if test_keys is None:
        raise BadMeasurement("null_test_keys", "'test_keys' is null")
    if not isinstance(test_keys, dict):
        raise BadMeasurement("wrong_type", f"'test_keys' is {type(test_keys).__name__}")
    start = parse_time(start_text)
    software = record.get("software_name")
    annotations = record.get("annotations")
    synthetic = software == SYNTHETIC_SOFTWARE or (
        isinstance(annotations, dict) and annotations.get("x_synthetic") == "true"
    )
    measured = _input_text(record.get("input"))
    return Identity(
        measurement_id=measurement_id(record),
        source="reachwatch" if software in _REACHWATCH_SOFTWARE else "ooni",
        test_name=test_name,
        input=measured,
        host=host_of(measured) if measured else None,
        probe_cc=_country_code(record),
        probe_asn=_optional_code(record, "probe_asn", "AS0"),
        start=start,
        synthetic=synthetic,
    )


_MISSING = object()


def _required(record: dict[str, Any], key: str, kind: type) -> Any:
    value = record.get(key, _MISSING)
    if value is _MISSING or value is None:
        raise BadMeasurement("missing_key", f"no {key!r}")
    if not isinstance(value, kind):
        raise BadMeasurement("wrong_type", f"{key!r} is {type(value).__name__}")
    return value


def _country_code(record: dict[str, Any]) -> str:
    """probe_cc, which also names the store's partition folder: two ASCII letters, or the
    record is malformed (a '/' or NUL there would be a path, not a country)."""
    code = _optional_code(record, "probe_cc", "ZZ").upper()
    if not is_country_code(code):
        raise BadMeasurement("wrong_type", f"'probe_cc' {code[:20]!r} is not two letters")
    return code


def is_country_code(code: str) -> bool:
    return len(code) == 2 and code.isascii() and code.isalpha()


def _optional_code(record: dict[str, Any], key: str, unknown: str) -> str:
    """probe_cc / probe_asn: old measurements may lack them (OONI's own 'unknown' then)."""
    value = record.get(key)
    if value is None or value == "":
        return unknown
    if not isinstance(value, str):
        raise BadMeasurement("wrong_type", f"{key!r} is {type(value).__name__}")
    return value


def _input_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value) or None  # a few old tests measured several inputs at once
    raise BadMeasurement("wrong_type", f"'input' is {type(value).__name__}")


def parse_time(text: str) -> datetime:
    """'YYYY-MM-DD hh:mm:ss' (OONI) or ISO 8601 with an offset, as naive UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadMeasurement("bad_timestamp", f"unreadable time {text[:40]!r}") from None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:  # year 1 or 9999 pushed out of range by its offset
            raise BadMeasurement("bad_timestamp", f"time out of range {text[:40]!r}") from None
    return value


@lru_cache(maxsize=1 << 16)
def host_of(measured: str) -> str | None:
    """The hostname of a URL input, or the input itself when it is a bare domain."""
    if "://" in measured:
        try:
            host = urlsplit(measured).hostname
        except ValueError:
            return None
        return host.rstrip(".") if host else None
    if "/" in measured or " " in measured or not measured:
        return None
    return measured.lower().rstrip(".")


# Keys of a legacy YAML report's header that belong to every measurement's envelope.
_YAML_ENVELOPE = (
    "data_format_version", "probe_asn", "probe_cc", "probe_city", "probe_ip", "report_id",
    "software_name", "software_version", "test_name", "test_version", "test_helpers",
    "options", "input_hashes", "backend_version",
)  # fmt: skip
_YAML_ENTRY_ENVELOPE = ("input", "test_runtime", "measurement_start_time", "test_start_time")


class LegacyYamlError(ValueError):
    def __init__(self, line: int, detail: str) -> None:
        super().__init__(detail)
        self.line = line


def legacy_yaml_measurements(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, measurement in the JSON format) per entry of an ooniprobe YAML report: a header
    document, then one document per measurement. Read document by document; a YAML error
    raises LegacyYamlError after the entries before it were given."""
    loader = yaml.CSafeLoader(stream) if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader(stream)
    header: dict[str, Any] | None = None
    line = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            line = node.start_mark.line + 1
            try:
                document = _json_safe(loader.construct_document(node), [_EXPANDED_LIMIT])
            except _TooLarge:
                detail = "a document over 10 MiB once its aliases are expanded"
                raise LegacyYamlError(line, detail) from None
            except RecursionError:
                raise LegacyYamlError(line, "a document nested too deeply") from None
            if not isinstance(document, dict):
                raise LegacyYamlError(line, "a YAML report document that is not a mapping")
            if header is None:
                header = document
                continue
            yield line, _yaml_entry(header, document)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise LegacyYamlError(mark.line + 1 if mark else line, str(exc)) from None
    finally:
        loader.dispose()


def _yaml_entry(header: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    measurement = {key: header[key] for key in _YAML_ENVELOPE if key in header}
    measurement["input"] = entry.get("input")
    measurement["test_runtime"] = entry.get("test_runtime")
    start = entry.get("measurement_start_time") or entry.get("test_start_time")
    start = start if start is not None else header.get("start_time")
    measurement["measurement_start_time"] = _epoch_text(start)
    measurement["test_start_time"] = _epoch_text(header.get("start_time"))
    measurement["test_keys"] = {k: v for k, v in entry.items() if k not in _YAML_ENTRY_ENVELOPE}
    return measurement


def _epoch_text(value: Any) -> Any:
    """Seconds since the epoch (how ooniprobe 1.x wrote times) as OONI's JSON time text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return value


# What one converted entry may hold, about a JSON line's limit: YAML aliases share one object
# between many places, and a few lines of them ("billion laughs") expand to gigabytes.
_EXPANDED_LIMIT = 10 * 1024 * 1024


class _TooLarge(Exception):
    pass


def _json_safe(value: Any, budget: list[int]) -> Any:
    """YAML values JSON has no word for: bytes as text (or OONI's base64 object), sets and
    tuples as lists, dates as text, keys as text. Every value copied is charged to `budget`
    (its size, at least 8); _TooLarge when it runs out."""
    budget[0] -= 8 + (len(value) if isinstance(value, str | bytes) else 0)
    if budget[0] < 0:
        raise _TooLarge
    if isinstance(value, dict):
        return {str(k): _json_safe(v, budget) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, budget) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_json_safe(v, budget) for v in value), key=str)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"format": "base64", "data": base64.b64encode(value).decode("ascii")}
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value
