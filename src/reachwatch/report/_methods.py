"""What a report's claims rest on: the versions and the hashes of the data the classifier and
the catalog read, so that a reader can tell whether a later run used the same ones."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from importlib import metadata, resources
from typing import Any

import orjson

from reachwatch.classify import RULES
from reachwatch.detect import DetectParams


def package_version() -> str:
    try:
        return metadata.version("reachwatch")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _files_hash(package: str, folder: str) -> str:
    """SHA-256 over the names and contents of the data files in one package folder, sorted
    by name: the same files give the same hash wherever the package is installed."""
    digest = hashlib.sha256()
    root = resources.files(package) / folder
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_file() and not entry.name.startswith((".", "_")):
            digest.update(entry.name.encode() + b"\0")
            digest.update(hashlib.sha256(entry.read_bytes()).digest())
    return digest.hexdigest()


def fingerprint_hash() -> str:
    """The blockpage and DNS fingerprint set the classifier loads by default."""
    return _files_hash("reachwatch.classify", "data")


def catalog_hash() -> str:
    """The platform catalog (which hosts belong to which platform)."""
    return _files_hash("reachwatch.catalog", "platforms")


def rules_hash() -> str:
    """Every rule id with its verdict and weights: a rule changed is a different classifier."""
    table = {rule: [verdict, list(loni)] for rule, (verdict, loni) in sorted(RULES.items())}
    return hashlib.sha256(orjson.dumps(table)).hexdigest()


def classifier_version() -> str:
    return f"reachwatch {package_version()}, rules {rules_hash()[:16]}"


def detect_params_json(params: DetectParams) -> dict[str, Any]:
    return asdict(params)


def provenance(params: DetectParams) -> dict[str, Any]:
    """Everything a bundle's manifest and a report's methods section record about the tools."""
    return {
        "reachwatch_version": package_version(),
        "classifier_version": classifier_version(),
        "rules_sha256": rules_hash(),
        "fingerprints_sha256": fingerprint_hash(),
        "catalog_sha256": catalog_hash(),
        "detect_params": detect_params_json(params),
    }
