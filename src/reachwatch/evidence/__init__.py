"""evidence stage: signed bundles a court can check, and their verification.

    from reachwatch.evidence import generate_keys, write_bundle, verify_bundle

A bundle is a zip of the raw measurements exactly as measured, the report, the case file, the
facts and verdicts the report states, and a manifest of SHA-256 hashes signed with Ed25519.
`verify_bundle` checks the container, the signature and every hash, then classifies the raw
measurements again and derives every claim anew, naming each file and claim that differs.
"""

from reachwatch.evidence._bundle import FORMAT, BundleSummary, write_bundle
from reachwatch.evidence._errors import BundleError, EvidenceError, KeyFileError
from reachwatch.evidence._finding import Finding
from reachwatch.evidence._keys import (
    PRIVATE_NAME,
    PUBLIC_NAME,
    default_key_dir,
    fingerprint,
    generate_keys,
    load_private_key,
    load_public_key,
)
from reachwatch.evidence._raw import RawMeasurement, RawMissing, fetch_raw
from reachwatch.evidence._verify import Verification, verify_bundle

__all__ = [
    "FORMAT",
    "PRIVATE_NAME",
    "PUBLIC_NAME",
    "BundleError",
    "BundleSummary",
    "EvidenceError",
    "Finding",
    "KeyFileError",
    "RawMeasurement",
    "RawMissing",
    "Verification",
    "default_key_dir",
    "fetch_raw",
    "fingerprint",
    "generate_keys",
    "load_private_key",
    "load_public_key",
    "verify_bundle",
    "write_bundle",
]
