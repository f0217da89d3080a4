"""`reachwatch serve tokens add/revoke/list` as a user runs them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson

from reachwatch.web import TokenStore

from .conftest import REACHWATCH


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([REACHWATCH, *args], capture_output=True, text=True, timeout=120)


def test_add_prints_the_token_once_and_keeps_only_its_hash(tmp_path: Path) -> None:
    db = tmp_path / "db"
    added = _run("serve", "tokens", "add", "lahore-1", "--db", str(db))
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("rw_") and len(token) > 40
    path = db / "submit" / "tokens.json"
    assert token not in path.read_text()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert TokenStore(db).check(token).name == "lahore-1"
    # The serve group's --db is used too.
    assert _run("serve", "--db", str(db), "tokens", "add", "karachi").returncode == 0
    listed = _run("serve", "tokens", "list", "--db", str(db), "--json")
    names = [(t["name"], t["revoked_at"]) for t in orjson.loads(listed.stdout)["tokens"]]
    assert names == [("lahore-1", None), ("karachi", None)]
    assert token not in listed.stdout
    revoked = _run("serve", "tokens", "revoke", "lahore-1", "--db", str(db))
    assert revoked.returncode == 0, revoked.stderr
    assert TokenStore(db).check(token).problem == "revoked"
    table = _run("serve", "tokens", "list", "--db", str(db))
    assert "lahore-1" in table.stdout and "karachi" in table.stdout


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_mistakes_and_foreign_token_files_are_one_line(tmp_path: Path) -> None:
    db = tmp_path / "db"
    assert _run("serve", "tokens", "add", "a", "--db", str(db)).returncode == 0
    assert "a token named 'a' exists" in _one_line(
        _run("serve", "tokens", "add", "a", "--db", str(db))
    )
    assert "token name 'No Spaces'" in _one_line(
        _run("serve", "tokens", "add", "No Spaces", "--db", str(db))
    )
    assert "no active token named 'b'" in _one_line(
        _run("serve", "tokens", "revoke", "b", "--db", str(db))
    )
    path = db / "submit" / "tokens.json"
    for content, why in [
        (b"not json", "not JSON"),
        (b'{"tokens": []}', 'no "reachwatch": "submit-tokens" marker'),
        (b'{"reachwatch": "submit-tokens", "version": 2, "tokens": []}', "version 2"),
        (b'{"reachwatch": "submit-tokens", "version": 1, "tokens": [{"name": "a"}]}',
         "tokens[0].sha256 is not a SHA-256"),
    ]:  # fmt: skip
        path.write_bytes(content)
        line = _one_line(_run("serve", "tokens", "list", "--db", str(db)))
        assert line.startswith(f"reachwatch: error: {path}: {why}"), line
        assert line.endswith("not a token file reachwatch wrote (move it aside, then "
                             "`reachwatch serve tokens add NAME`)"), line  # fmt: skip
    os.chmod(path, 0o666)
    assert "writable by others (mode 666)" in _one_line(
        _run("serve", "tokens", "list", "--db", str(db))
    )
    # The server refuses it before listening.
    assert "writable by others" in _one_line(_run("serve", "--db", str(db), "--port", "0"))
    assert path.read_bytes().startswith(b'{"reachwatch": "submit-tokens", "version": 1')
