"""The one classifier, as ingest calls it: OONI-format records and Censored Planet records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reachwatch.classify import (
    Fingerprints,
    InvalidMeasurement,
    Unsupported,
    classify,
    classify_censoredplanet,
    load_fingerprints,
)
from reachwatch.classify.verdicts import Classified
from reachwatch.ingest._provenance import classifier_version, fingerprints_sha256

__all__ = ["Fingerprints", "InvalidMeasurement", "Judge", "Unsupported"]


class Judge:
    """Classifies with one set of fingerprints loaded once for the whole run; `version` and
    `fingerprints_sha256` say which classifier and which set (stored with every verdict)."""

    def __init__(self, fingerprints: Fingerprints | None = None) -> None:
        self.fingerprints = fingerprints if fingerprints is not None else load_fingerprints()
        self.version = classifier_version()
        self.fingerprints_sha256 = fingerprints_sha256(self.fingerprints)

    def ooni(self, record: Mapping[str, Any], measurement_id: str | None = None) -> Classified:
        """`measurement_id`: the id the caller already worked out (saves hashing twice)."""
        return classify(record, fingerprints=self.fingerprints, measurement_id=measurement_id)

    def censoredplanet(self, record: Mapping[str, Any]) -> Classified:
        return classify_censoredplanet(record, fingerprints=self.fingerprints)
