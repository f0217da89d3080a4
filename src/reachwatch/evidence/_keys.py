"""Ed25519 signing keys: make a pair, load either half, and name a public key by its
fingerprint (the SHA-256 of its 32 raw bytes, in hex), which the report prints."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from reachwatch.evidence._errors import KeyFileError

PRIVATE_NAME, PUBLIC_NAME = "reachwatch-signing.key", "reachwatch-signing.pub"


def default_key_dir() -> Path:
    """REACHWATCH_KEYS when set, else ~/.config/reachwatch/keys."""
    given = os.environ.get("REACHWATCH_KEYS")
    return Path(given) if given else Path.home() / ".config" / "reachwatch" / "keys"


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def generate_keys(folder: Path) -> tuple[Path, Path]:
    """A new key pair in `folder`: the private key readable by its owner only (mode 0600).
    Existing key files are never replaced."""
    private, public = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private, public):
        if path.exists():
            raise KeyFileError(
                f"{path}: a key is already there; it is never replaced (move it "
                "away first, or choose another --out folder)"
            )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Created with mode 0600 from the start: never readable by others, not even briefly.
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.chmod(private, 0o600)  # whatever the umask did
        public.write_bytes(public_pem(key.public_key()))
    except OSError as exc:
        raise KeyFileError(f"{folder}: cannot write the key pair ({exc.strerror})") from None
    return private, public


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        hint = " (make one with `reachwatch keys generate`)" if what == "private key" else ""
        raise KeyFileError(f"{path}: no {what} here{hint}") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the {what} ({exc.strerror})") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"{path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def parse_public_key(data: bytes, origin: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{origin}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{origin}: not an Ed25519 public key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    return parse_public_key(_read(path, "public key"), str(path))
