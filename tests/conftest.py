"""Fixtures every test folder may use."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

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
