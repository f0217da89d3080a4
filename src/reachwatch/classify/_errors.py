"""Why a record could not be judged: two different fates for ingest (store raw vs quarantine)."""

from __future__ import annotations


class Unsupported(Exception):
    """The record is well-formed but of a test the classifier does not judge (store it raw)."""


class InvalidMeasurement(ValueError):
    """The record is malformed: missing or mistyped keys, null test_keys (quarantine it)."""
