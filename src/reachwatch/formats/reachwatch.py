"""reachwatch's own measurement lines: build them, check them against the shipped schema,
and append them to a file (docs/measurement-format.md)."""

from __future__ import annotations

import datetime
import json
import secrets
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import orjson

SOFTWARE_NAME = "reachwatch"
TEST_NAME = "web_connectivity"
TEST_VERSION = "0.5.0-reachwatch"
DATA_FORMAT_VERSION = "0.2.0"
# The user's public address is never recorded: OONI's placeholder stands in for it.
PROBE_IP_PLACEHOLDER = "127.0.0.1"


class InvalidFormat(ValueError):
    """A measurement that does not match reachwatch's measurement schema."""


def ooni_time(moment: datetime.datetime) -> str:
    """OONI's timestamp format ("YYYY-MM-DD hh:mm:ss", UTC)."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def build_measurement(
    *,
    input_url: str,
    test_keys: Mapping[str, Any],
    started_at: datetime.datetime,
    runtime: float,
    probe_cc: str = "ZZ",
    probe_asn: str = "AS0",
    resolver_ip: str | None = None,
    annotations: Mapping[str, str] | None = None,
    report_id: str = "",
    software_version: str = "0.1.0",
) -> dict[str, Any]:
    """One measurement line: OONI's base keys around `test_keys`."""
    stamp = started_at.astimezone(datetime.UTC)
    return {
        "annotations": dict(annotations or {}),
        "data_format_version": DATA_FORMAT_VERSION,
        "input": input_url,
        "measurement_start_time": ooni_time(stamp),
        "measurement_uid": _new_uid(stamp, probe_cc),
        "probe_asn": probe_asn,
        "probe_cc": probe_cc,
        "probe_ip": PROBE_IP_PLACEHOLDER,
        "probe_network_name": None,
        "report_id": report_id,
        "resolver_asn": None,
        "resolver_ip": resolver_ip,
        "software_name": SOFTWARE_NAME,
        "software_version": software_version,
        "test_keys": dict(test_keys),
        "test_name": TEST_NAME,
        "test_runtime": round(runtime, 6),
        "test_start_time": ooni_time(stamp),
        "test_version": TEST_VERSION,
    }


@cache
def measurement_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package (reachwatch/formats/measurement.schema.json)."""
    text = (resources.files("reachwatch.formats") / "measurement.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(measurement_schema())


def validate_measurement(measurement: Mapping[str, Any]) -> None:
    """Raise InvalidFormat, naming the first offending place, unless the line fits the schema."""
    error = jsonschema.exceptions.best_match(_validator().iter_errors(measurement))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(top)"
        raise InvalidFormat(f"{where}: {error.message}")


def to_json_line(measurement: Mapping[str, Any]) -> bytes:
    return orjson.dumps(measurement) + b"\n"


def write_measurements(path: Path | str, measurements: Iterable[Mapping[str, Any]]) -> int:
    """Append measurements to `path` as JSON lines; the number written. Raises OSError."""
    count = 0
    with Path(path).open("ab") as out:
        for measurement in measurements:
            out.write(to_json_line(measurement))
            count += 1
    return count


def _new_uid(stamp: datetime.datetime, probe_cc: str) -> str:
    # OONI's measurement_uid layout: time, country, test, random part.
    return f"{stamp:%Y%m%d%H%M%S.%f}_{probe_cc}_webconnectivity_{secrets.token_hex(8)}"
