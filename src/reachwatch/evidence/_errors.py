"""Evidence's own exceptions: bundles, signing keys, and the raw bytes behind them."""

from __future__ import annotations

from reachwatch.errors import ReachwatchError


class EvidenceError(ReachwatchError):
    """A bundle or a key cannot be made or read as asked; one-line message."""


class BundleError(EvidenceError):
    """A bundle cannot be read, written or hold what was asked."""


class KeyFileError(EvidenceError):
    """A signing or public key cannot be read, written or is not an Ed25519 key."""
