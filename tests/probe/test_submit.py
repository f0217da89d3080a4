"""`reachwatch probe x --submit URL`: the loopback world measured, the measurements uploaded
to a real `serve` upload server (uvicorn on 127.0.0.1) and stored; when the upload fails they
are kept in a file, said in one line, and `reachwatch submit` sends them again."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import uvicorn
from fastapi import FastAPI

from reachwatch.store import open_store
from reachwatch.web import TokenStore, open_submissions

from .conftest import World, WorldFactory

REACHWATCH = str(Path(sys.executable).parent / "reachwatch")


@contextmanager
def _upload_server(db: Path) -> Iterator[str]:
    submissions = open_submissions(db)
    app = FastAPI()
    submissions.attach(app)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        submissions.close()
        sock.close()


async def _reachwatch(cwd: Path, *args: str) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        REACHWATCH, *args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "REACHWATCH_TOKEN"},
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout, stderr


def _probe_args(lab: World, out: Path | None, submit: str, token_file: Path) -> list[str]:
    assert lab.control_url is not None
    kept = ["--out", str(out)] if out is not None else []
    return [
        "probe", "x", "--json", "--control", lab.control_url, *kept,
        "--resolver", f"{lab.probe_resolver[0]}:{lab.probe_resolver[1]}", "--no-doh",
        "--no-system-resolver", "--ca-file", str(lab.pki.ca_file), "--source", lab.probe_source,
        "--timeout", "1", "--cc", "PK",
        "--submit", submit, "--token-file", str(token_file),
    ]  # fmt: skip


def _stored(db: Path) -> list[str]:
    con = open_store(db, read_only=True)
    try:
        return sorted(
            r[0] for r in con.execute("SELECT measurement_id FROM measurements").fetchall()
        )
    finally:
        con.close()


def _ids(path: Path) -> list[str]:
    return sorted(orjson.loads(line)["measurement_uid"] for line in path.read_bytes().splitlines())


def test_probe_submits_its_measurements_and_keeps_them_when_it_cannot(
    world: WorldFactory, tmp_path: Path
) -> None:
    db = tmp_path / "db"
    token_file = tmp_path / "token"
    token_file.write_text(TokenStore(db).add("lahore") + "\n")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"  # bound, never listening

    async def scenario() -> list[tuple[int, bytes, bytes]]:
        async with world.start() as lab:
            with _upload_server(db) as url:
                sent = await _reachwatch(
                    tmp_path, *_probe_args(lab, tmp_path / "a.jsonl", url, token_file)
                )
                # Without --out: kept in a file of their own.
                unreachable = await _reachwatch(
                    tmp_path, *_probe_args(lab, None, nowhere, token_file)
                )
                kept = sorted((tmp_path / "reachwatch-unsent").glob("*.jsonl"))
                assert len(kept) == 1
                resent = await _reachwatch(
                    tmp_path, "submit", str(kept[0]), "--to", url, "--token-file", str(token_file)
                )
                return [sent, unreachable, resent]

    (code, stdout, stderr), (code_b, _, stderr_b), (code_c, _, stderr_c) = asyncio.run(scenario())
    assert code == 0, stderr.decode()
    assert orjson.loads(stdout)["summary"]["accessible"] == 8
    uploaded = [line for line in stderr.decode().splitlines() if line.startswith("uploaded")]
    assert len(uploaded) == 1 and ": 8 stored, 0 duplicates, 0 quarantined (s-" in uploaded[0]
    first = _ids(tmp_path / "a.jsonl")
    # An unreachable server: one line, exit 3 (no network to it), the measurements kept.
    assert code_b == 3, stderr_b.decode()
    errors = [line for line in stderr_b.decode().splitlines() if "error" in line]
    assert len(errors) == 1 and "Traceback" not in stderr_b.decode()
    assert errors[0].startswith(f"reachwatch: error: {nowhere}/api/v1/measurements unreachable")
    kept = next((tmp_path / "reachwatch-unsent").glob("*.jsonl"))
    assert f"8 of 8 measurements not sent, kept in reachwatch-unsent/{kept.name}" in errors[0]
    assert f"(send again: `reachwatch submit reachwatch-unsent/{kept.name} --to " in errors[0]
    # ... and sent again.
    assert code_c == 0, stderr_c.decode()
    assert ": 8 stored, 0 duplicates" in stderr_c.decode()
    assert len(_ids(kept)) == 8
    assert _stored(db) == sorted(first + _ids(kept))


def test_probe_checks_its_upload_settings_before_measuring(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REACHWATCH_TOKEN"}
    for args, message in [
        (["--submit", "http://127.0.0.1:9"], "an upload needs a token: --token-file F or "
                                             "$REACHWATCH_TOKEN"),
        (["--submit", "ftp://h/", "--token-file", "/nonexistent"], "--submit 'ftp://h/': not"),
        (["--submit", "http://127.0.0.1:9", "--token-file", "/nonexistent"],
         "--token-file /nonexistent: cannot read"),
    ]:  # fmt: skip
        started = time.monotonic()
        result = subprocess.run([REACHWATCH, "probe", "x", *args], capture_output=True,
                                text=True, timeout=60, env=env)  # fmt: skip
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"reachwatch: error: {message}"), lines
        assert time.monotonic() - started < 30  # refused before any measuring
