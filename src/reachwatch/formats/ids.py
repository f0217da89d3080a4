"""A measurement's id: the one function every stage uses (probe, classify, ingest, show,
detect's evidence), so an id printed by one command is found by every other.

The scheme (docs/store-schema.md):
  - OONI format (a record with test_name or test_keys) with a measurement_uid: that uid;
  - else with a report_id: "r-" + BLAKE2b-128 of report_id, input and measurement_start_time
    (the same measurement submitted twice, reformatted, gets the same id);
  - else: "c-" (OONI format) or "cp-" (Censored Planet) + BLAKE2b-128 of the record's canonical
    JSON (keys sorted, no spaces), so the same content gets the same id whatever its key
    order, spacing or the file it sits in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import orjson


def measurement_id(record: Mapping[str, Any]) -> str:
    """The id of one measurement record (see the module doc)."""
    ooni = "test_keys" in record or "test_name" in record
    if ooni:
        uid = record.get("measurement_uid")
        if isinstance(uid, str) and uid:
            return uid
        report_id = record.get("report_id")
        if isinstance(report_id, str) and report_id:
            start = record.get("measurement_start_time")
            key = "\x00".join((report_id, _input(record.get("input")), _text(start)))
            return "r-" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    return ("c-" if ooni else "cp-") + content_digest(record)


def content_digest(record: Mapping[str, Any]) -> str:
    """BLAKE2b-128 (hex) of the record's canonical JSON."""
    try:
        canonical = orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        # Integers beyond 64 bits (a record parsed by another JSON library): slower, same idea.
        canonical = json.dumps(
            record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        ).encode()
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def _input(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " ".join(value)  # a few old tests measured several inputs at once
    return ""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
