"""Reading measurement files for `reachwatch classify`: .json (one measurement, an array, or
JSON lines as Censored Planet names them), .jsonl, .jsonc (// comment lines), any of them
gzipped. Reading is the CLI's business; classify() itself never touches a file."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from reachwatch.classify._censoredplanet import HYPERQUACK_SERVICES, classify_censoredplanet
from reachwatch.classify._errors import InvalidMeasurement, Unsupported
from reachwatch.classify._fingerprints import Fingerprints
from reachwatch.classify._ooni import classify
from reachwatch.classify._refusals import MeasurementFileError
from reachwatch.classify.verdicts import Classified

# Keys only web_connectivity test_keys carry: a file holding just them (as OONI's own test
# data does) is judged as the web_connectivity measurement it came from.
_WEB_TEST_KEYS = ("queries", "tcp_connect", "control")


@dataclass(slots=True)
class FileResult:
    """What one file held: judged measurements, and counts of what could not be judged."""

    path: Path
    judged: list[Classified]
    unsupported: int = 0
    invalid: int = 0
    first_invalid: str | None = None  # "line N: reason" of the first invalid record


def classify_file(path: Path, fingerprints: Fingerprints | None = None) -> FileResult:
    """Judge every record of a file. MeasurementFileError when the file cannot be read at all."""
    result = FileResult(path, [])
    service = next((s for s in HYPERQUACK_SERVICES if s in path.name.lower()), None)
    if service == "http" and "https" in path.name.lower():
        service = "https"
    for where, record in _records(path):
        try:
            result.judged.append(_judge(record, fingerprints, service))
        except Unsupported:
            result.unsupported += 1
        except InvalidMeasurement as exc:
            result.invalid += 1
            result.first_invalid = result.first_invalid or f"{where}: {exc}"
    return result


def _judge(record: Any, fps: Fingerprints | None, service: str | None) -> Classified:
    if isinstance(record, _Unreadable):
        raise InvalidMeasurement(record.reason)
    if not isinstance(record, Mapping):
        raise InvalidMeasurement(f"a record is an object, not {type(record).__name__}")
    if "test_name" in record or "test_keys" in record:
        return classify(record, fingerprints=fps)
    if all(k in record for k in _WEB_TEST_KEYS):
        return classify(_envelope(record), fingerprints=fps)
    return classify_censoredplanet(record, fingerprints=fps, service=service)


def _envelope(test_keys: Mapping[str, Any]) -> dict[str, Any]:
    """A web_connectivity envelope around bare test_keys; the input comes from the request the
    probe sent its control, or the first name it resolved."""
    target = None
    request = test_keys.get("x_control_request")
    if isinstance(request, dict) and isinstance(request.get("http_request"), str):
        target = request["http_request"]
    queries = test_keys.get("queries")
    if target is None and isinstance(queries, list) and queries:
        first = queries[0]
        if isinstance(first, dict) and isinstance(first.get("hostname"), str):
            target = f"https://{first['hostname']}/"
    return {"test_name": "web_connectivity", "input": target, "test_keys": test_keys}


@dataclass(slots=True)
class _Unreadable:
    reason: str


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, record) for every record; a line that is not JSON yields _Unreadable."""
    text = _read_text(path)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".jsonc"):
        text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    if not name.endswith(".jsonl"):
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            doc = _NOT_ONE_DOCUMENT
        if doc is not _NOT_ONE_DOCUMENT:
            if isinstance(doc, list):
                yield from ((f"item {i}", item) for i, item in enumerate(doc, start=1))
            else:
                yield "document", doc
            return
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise MeasurementFileError(f"{path}: empty file")
    for number, line in lines:
        try:
            yield f"line {number}", orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield f"line {number}", _Unreadable(f"not JSON ({exc})")


_NOT_ONE_DOCUMENT = object()


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise MeasurementFileError(f"{path}: cannot read ({exc})") from None
    return raw.decode("utf-8", errors="replace")
