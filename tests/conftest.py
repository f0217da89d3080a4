"""Fixtures every test folder may use."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).resolve().parents[1]
SRC_PACKAGE = REPO / "src" / "reachwatch"


def _py_files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*.py")}


def _stale_install() -> str | None:
    """Why the installed reachwatch is not the code in src/, or None when it is.

    The tests import the installed package (src/ is not on sys.path, and compiled modules only
    exist there), so an install older than src/ would test code nobody is looking at.
    """
    spec = importlib.util.find_spec("reachwatch")
    if spec is None or not spec.submodule_search_locations:
        return "reachwatch is not installed"
    installed = Path(next(iter(spec.submodule_search_locations))).resolve()
    if os.environ.get("REACHWATCH_MUTATION_RUN"):
        # `make mutation`: mutmut copies src/ and tests/ into mutants/ and mutates that copy;
        # the tests must run the mutated copy itself, never a build of the original.
        if installed != SRC_PACKAGE.resolve():
            return f"a mutation run imports reachwatch from {installed}, not from the mutants"
        return None
    if installed == SRC_PACKAGE.resolve():
        return "reachwatch is installed in editable mode (from src/), not built"
    ours, theirs = _py_files(SRC_PACKAGE), _py_files(installed)
    stale = []
    for name in sorted(ours.keys() | theirs.keys()):
        if name not in theirs:
            stale.append(f"{name} is not installed")
        elif name not in ours:
            stale.append(f"{name} is installed but gone from src/")
        elif ours[name].read_bytes() != theirs[name].read_bytes():
            stale.append(f"{name} differs")
    if not stale:
        return None
    more = f" and {len(stale) - 1} more" if len(stale) > 1 else ""
    return f"the installed reachwatch is older than src/ ({stale[0]}{more})"


def pytest_sessionstart(session: pytest.Session) -> None:
    # What `reachwatch detect` keeps between runs goes to a folder of this session, not to
    # the user's cache (every command the tests start inherits it).
    os.environ["REACHWATCH_CACHE"] = tempfile.mkdtemp(prefix="reachwatch-test-cache-")
    problem = _stale_install()
    if problem is not None:
        pytest.exit(
            f"{problem}: run `make unit` (or pip install --no-build-isolation .)", returncode=2
        )


def _reference_dir() -> Path:
    override = os.environ.get("REACHWATCH_REFERENCE")
    return Path(override) if override else REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """../shared/reference (real third-party data, never copied into the repo)."""
    path = _reference_dir()
    if not path.is_dir():
        pytest.skip(f"reference data not found at {path} (set REACHWATCH_REFERENCE)")
    return path


# -- a Dask cluster on loopback (ingest, rejudge and detect on --engine dask) -----------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _spawn(args: list[str], home: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("dask")), *args],
        cwd=home,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A `dask scheduler` and two `dask worker` processes (one thread each) on loopback,
    started in a folder of their own: the address of the scheduler."""
    home = tmp_path / "cluster"
    home.mkdir()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    started: list[subprocess.Popen[bytes]] = []
    with (home / "log").open("wb") as log:
        try:
            started.append(_spawn([*scheduler, "--no-show"], home, log))
            for n in range(2):
                worker = ["worker", address, "--nworkers", "1", "--nthreads", "1", "--host",
                          "127.0.0.1", "--no-dashboard", "--name", f"w{n}",
                          "--local-directory", str(home / f"w{n}")]  # fmt: skip
                started.append(_spawn(worker, home, log))
            _wait_for_workers(address, 2, home / "log")
            yield address
        finally:
            for process in reversed(started):
                _stop(process)


def _wait_for_workers(address: str, count: int, log: Path) -> None:
    from distributed import Client

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, TimeoutError), Client(address, timeout=5) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(count, timeout=max(deadline - time.monotonic(), 1))
            return
        time.sleep(0.5)
    pytest.fail(f"the test's Dask cluster did not start: {log.read_text()[-2000:]}")
