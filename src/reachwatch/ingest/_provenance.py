"""Which classifier judged a measurement: its version, and the fingerprint set it used.

Every verdict row carries both, so a verdict can be traced to the rules and the fingerprints
that gave it, and `reachwatch rejudge` after a change records the new ones.

- `classifier_version()`: reachwatch's version, `+rules.`, and the first 12 hex digits of a
  SHA-256 over the rule table (`reachwatch.classify.RULES`: each rule id with its verdict and
  weights, in order) and the source of every module of `reachwatch.classify` (by name), whose
  code decides which rule fires in what order. Any change to the classifier's code gives
  another version, a comment's included: two verdicts of one version come from the same rules.
- `fingerprints_sha256(fingerprints)`: SHA-256 of the set as loaded (DNS addresses and names
  sorted; HTTP fingerprints and Censored Planet signatures in the order they are tried), so
  the same set has the same hash whatever files or formatting it was read from.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

import orjson

import reachwatch
from reachwatch.classify import RULES, Fingerprints


@cache
def classifier_version() -> str:
    digest = hashlib.sha256(orjson.dumps([[rule, *value] for rule, value in RULES.items()]))
    package = resources.files("reachwatch.classify")
    for item in sorted(package.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".py") and item.is_file():
            digest.update(b"\0" + item.name.encode() + b"\0" + item.read_bytes())
    return f"{reachwatch.__version__}+rules.{digest.hexdigest()[:12]}"


def fingerprints_sha256(fingerprints: Fingerprints) -> str:
    doc = {
        "dns": sorted(fingerprints.dns.items()),
        "http": [
            [fp.name, fp.location, fp.kind, fp.pattern, fp.false_positive]
            for fp in fingerprints.http
        ],
        "blockpages": [[name, rx.pattern, rx.flags] for name, rx in fingerprints.blockpages],
        "false_positives": [
            [name, rx.pattern, rx.flags] for name, rx in fingerprints.false_positives
        ],
    }
    return hashlib.sha256(orjson.dumps(doc)).hexdigest()
