"""Upload tokens: one per submitter, named, stored hashed in the store's own folder.

The file is `DB/submit/tokens.json` (mode 0600), one JSON document:
`{"reachwatch": "submit-tokens", "version": 1, "tokens": [{"name", "sha256", "created_at",
"revoked_at"}]}`. A token is 32 random bytes (`rw_` + URL-safe base64); only its SHA-256 is
kept. A plain hash is enough for a secret of 256 random bits (no dictionary to try, so nothing
for a slow password hash to slow down) and keeps each request's check to one hash. A revoked
token stays listed with its `revoked_at`, so it is told apart from a token never issued (403
against 401). The server reads the file again whenever it changes: `serve tokens add` and
`revoke` take effect on the next request, without a restart.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from reachwatch.errors import ReachwatchError
from reachwatch.store._layout import create_store

SUBMIT_DIR = "submit"
TOKENS_NAME = "tokens.json"
_MARKER = "submit-tokens"
_VERSION = 1
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_PREFIX = "rw_"


class TokenError(ReachwatchError):
    """The token file cannot be used, or a token command cannot do what was asked."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    name: str
    sha256: str
    created_at: str
    revoked_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True)
class Check:
    """What a presented token is: `name` when valid, else why not ("unknown", "revoked")."""

    name: str | None
    problem: str | None = None


def tokens_path(db: Path) -> Path:
    return Path(db) / SUBMIT_DIR / TOKENS_NAME


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenStore:
    """The tokens of one store. `check` is thread-safe and re-reads a changed file."""

    def __init__(self, db: Path) -> None:
        self.path = tokens_path(db)
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._by_hash: dict[str, TokenInfo] = {}

    # -- reading ----------------------------------------------------------------------
    def tokens(self) -> list[TokenInfo]:
        """Every token ever issued, revoked ones included, oldest first."""
        return _read(self.path)

    def check(self, token: str) -> Check:
        table = self._current()
        digest = _hash(token)
        info = table.get(digest)
        # compare_digest on the hit: the dict lookup reveals at most which hash was probed.
        if info is None or not hmac.compare_digest(info.sha256, digest):
            return Check(None, "unknown")
        if info.revoked_at is not None:
            return Check(info.name, "revoked")
        return Check(info.name)

    def _current(self) -> dict[str, TokenInfo]:
        try:
            st = os.stat(self.path)
            key: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            key = None
        with self._lock:
            if key != self._seen or key is None:
                self._by_hash = {t.sha256: t for t in _read(self.path)} if key else {}
                self._seen = key
            return self._by_hash

    # -- changing ---------------------------------------------------------------------
    def add(self, name: str) -> str:
        """Issue a token named `name`; the token itself, which is not kept anywhere."""
        if not _NAME.fullmatch(name):
            raise TokenError(
                f"token name {name!r}: use 1 to 64 of a-z 0-9 _ . - (starting with a letter "
                "or digit)"
            )
        token = _PREFIX + secrets.token_urlsafe(32)
        with self._editing(create=True) as entries:
            if any(t.name == name and t.revoked_at is None for t in entries):
                raise TokenError(f"a token named {name!r} exists: revoke it first or pick another")
            entries.append(TokenInfo(name, _hash(token), _now()))
        return token

    def revoke(self, name: str) -> None:
        with self._editing() as entries:
            for i, t in enumerate(entries):
                if t.name == name and t.revoked_at is None:
                    entries[i] = TokenInfo(t.name, t.sha256, t.created_at, _now())
                    return
            raise TokenError(f"no active token named {name!r} (see `reachwatch serve tokens list`)")

    @contextmanager
    def _editing(self, *, create: bool = False) -> Iterator[list[TokenInfo]]:
        """The entries, written back whole (atomically) if the block ends without error; one
        editor at a time (a lock file beside the token file). `create`: a new or empty folder
        becomes a store for them, as ingest makes one; else the file must exist."""
        folder = self.path.parent
        if create:
            create_store(folder.parent)
        elif not self.path.is_file():
            raise TokenError(f"{self.path}: no token file (`reachwatch serve tokens add NAME`)")
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(folder / (TOKENS_NAME + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise TokenError(f"{folder}: cannot write ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            entries = _read(self.path)
            yield entries
            _write(self.path, entries)
        finally:
            os.close(fd)


def _refused(path: Path, why: str) -> TokenError:
    return TokenError(
        f"{path}: {why}; not a token file reachwatch wrote (move it aside, then "
        "`reachwatch serve tokens add NAME`)"
    )


def _read(path: Path) -> list[TokenInfo]:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return []
    except OSError as exc:  # a file where the store's folder should be
        raise TokenError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise _refused(path, "not a regular file")
    if st.st_mode & 0o022:
        raise _refused(path, f"writable by others (mode {stat.S_IMODE(st.st_mode):o})")
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        raise _refused(path, "not JSON") from None
    except OSError as exc:
        raise TokenError(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(doc, dict) or doc.get("reachwatch") != _MARKER:
        raise _refused(path, f'no "reachwatch": "{_MARKER}" marker')
    if doc.get("version") != _VERSION:
        raise _refused(path, f"version {doc.get('version')!r}, this reachwatch reads {_VERSION}")
    entries = doc.get("tokens")
    if not isinstance(entries, list):
        raise _refused(path, '"tokens" is not a list')
    return [_entry(path, i, e) for i, e in enumerate(entries)]


def _entry(path: Path, index: int, entry: object) -> TokenInfo:
    if not isinstance(entry, dict):
        raise _refused(path, f"tokens[{index}] is not an object")
    name, digest = entry.get("name"), entry.get("sha256")
    created, revoked = entry.get("created_at"), entry.get("revoked_at")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _refused(path, f"tokens[{index}].name is not a token name")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise _refused(path, f"tokens[{index}].sha256 is not a SHA-256 in hex")
    if not isinstance(created, str) or not (revoked is None or isinstance(revoked, str)):
        raise _refused(path, f"tokens[{index}] has no created_at or a bad revoked_at")
    return TokenInfo(name, digest, created, revoked)


def _write(path: Path, entries: list[TokenInfo]) -> None:
    doc = {
        "reachwatch": _MARKER,
        "version": _VERSION,
        "tokens": [t.to_json() for t in entries],
    }
    temp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        temp.rename(path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise TokenError(f"{path}: cannot write ({exc.strerror})") from None
