"""Check a bundle: its container, the signature, every hash, then every verdict and every
claim of the report derived again from the bundle's own raw measurements."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from reachwatch.evidence._bundle import (
    FORMAT,
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    _describe,
)
from reachwatch.evidence._errors import KeyFileError
from reachwatch.evidence._finding import Finding
from reachwatch.evidence._keys import fingerprint, parse_public_key
from reachwatch.evidence._rederive import rederive
from reachwatch.evidence._zip import BadContainer, Entry, read_entries


@dataclass(slots=True)
class Verification:
    findings: list[Finding] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # what was checked and holds
    signer: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings and bool(self.held)


def verify_bundle(blob: bytes, key: Ed25519PublicKey | None = None) -> Verification:
    """Every check, in order; later ones run only when the earlier ones hold (a claim is not
    re-derived from bytes whose signature fails)."""
    result = Verification()
    try:
        entries = {e.name: e for e in read_entries(blob)}
    except BadContainer as exc:
        result.findings.append(Finding("bundle", f"not as written by reachwatch: {exc}"))
        return result
    result.held.append(f"container: {len(entries)} files, every header byte as written")
    manifest = _signed_manifest(entries, key, result)
    if manifest is None or not _hashes(entries, manifest, result):
        return result
    result.findings += rederive(entries, manifest, result.held)
    return result


def _signed_manifest(
    entries: dict[str, Entry], key: Ed25519PublicKey | None, result: Verification
) -> dict[str, Any] | None:
    for name in (MANIFEST, SIGNATURE, PUBLIC_KEY):
        if name not in entries:
            result.findings.append(Finding(name, "missing from the bundle"))
            return None
    try:
        embedded = parse_public_key(entries[PUBLIC_KEY].data, PUBLIC_KEY)
    except KeyFileError as exc:
        result.findings.append(Finding(PUBLIC_KEY, str(exc)))
        return None
    signer = key or embedded
    result.signer = fingerprint(signer)
    if key is not None and fingerprint(key) != fingerprint(embedded):
        result.findings.append(
            Finding(
                PUBLIC_KEY,
                f"the bundle was signed with key {fingerprint(embedded)}, not the one given",
            )
        )
        return None
    try:
        signer.verify(
            bytes.fromhex(entries[SIGNATURE].data.decode().strip()), entries[MANIFEST].data
        )
    except (InvalidSignature, ValueError, UnicodeDecodeError):
        result.findings.append(Finding(SIGNATURE, "the signature of manifest.json does not hold"))
        return None
    source = "the key given" if key else "the key inside the bundle (compare its fingerprint)"
    result.held.append(f"signature: manifest.json signed by {result.signer}, {source}")
    doc = orjson.loads(entries[MANIFEST].data)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        result.findings.append(Finding(MANIFEST, f"not a {FORMAT} manifest"))
        return None
    return doc


def _hashes(entries: dict[str, Entry], manifest: dict[str, Any], result: Verification) -> bool:
    listed: dict[str, Any] = manifest["files"]
    before = len(result.findings)
    for name in sorted(set(entries) - set(listed) - {MANIFEST, SIGNATURE}):
        result.findings.append(Finding(name, "in the bundle but not in the signed manifest"))
    for name, expected in listed.items():
        entry = entries.get(name)
        if entry is None:
            result.findings.append(Finding(name, "listed in the manifest but missing"))
        elif _describe(entry) != expected:
            result.findings.append(Finding(name, _hash_mismatch(entry, expected)))
    if len(result.findings) == before:
        result.held.append(f"hashes: all {len(listed)} files match the signed manifest")
    return len(result.findings) == before


def _hash_mismatch(entry: Entry, expected: dict[str, Any]) -> str:
    got = hashlib.sha256(entry.data).hexdigest()
    if got != expected["sha256"]:
        return f"content SHA-256 {got} differs from the manifest's {expected['sha256']}"
    return "its compressed bytes in the zip differ from those the manifest signed"
